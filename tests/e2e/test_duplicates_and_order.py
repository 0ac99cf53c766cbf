"""Duplicates, redeliveries, out-of-order arrival and delivery statuses through the whole pipeline."""

from __future__ import annotations

import asyncio

import orjson

from contracts.inbound import normalize
from contracts.subjects import inbound_subject
from contracts.whatsapp import WebhookPayload
from orchestrator.identity import deliveries_stream_id
from tests.e2e.pipeline import PARTITIONS, PERSON_TOKENS, Pipeline
from tests.whatsapp_builders import text_message

CUSTOMER = "56911113333"


async def _received(pipeline: Pipeline, phone: str, count: int) -> list[str]:
    stream_id = await pipeline.customer_stream(phone)
    for _ in range(300):
        events = await pipeline.store.read_stream(stream_id)
        wamids = [e.data["wamid"] for e in events if e.type == "MessageReceived"]
        if len(wamids) >= count:
            return wamids
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {wamids} arrived")


async def _replies_queued(pipeline: Pipeline, phone: str) -> int:
    events = await pipeline.store.read_stream(await pipeline.customer_stream(phone))
    return sum(1 for e in events if e.type == "ReplyQueued")


async def test_a_webhook_retried_by_meta_is_handled_once(pipeline: Pipeline) -> None:
    payload = text_message("wamid.DUP1", CUSTOMER, "hola, necesito un cerrajero en providencia")

    for _ in range(3):
        await pipeline.post(payload)
    sentinel = await pipeline.says(CUSTOMER, "hoy")  # queued behind the retries, in the same partition

    # Once the sentinel is handled, a retry that got through would have been handled before it.
    assert await pipeline.received_until(CUSTOMER, sentinel) == ["wamid.DUP1", sentinel]
    await pipeline.replies_all_sent()
    assert len(pipeline.sandbox.messages(to=CUSTOMER)) == await _replies_queued(pipeline, CUSTOMER) == 2


async def test_a_message_jetstream_delivers_twice_commits_nothing_the_second_time(pipeline: Pipeline) -> None:
    payload = text_message("wamid.REDELIVER", CUSTOMER, "hola, se me quedaron las llaves adentro en ñuñoa")
    await pipeline.post(payload)
    await pipeline.outbox(CUSTOMER, 1)
    # The same update published again under another message id: what a crash before the ack looks like.
    [envelope] = normalize(WebhookPayload.model_validate(payload))
    js = pipeline.nats.jetstream()
    await js.publish(
        inbound_subject(envelope.sender_key, envelope.dedupe_key, PARTITIONS, PERSON_TOKENS(envelope.sender_key)),
        orjson.dumps(envelope.model_dump(mode="json")),
        headers={"Nats-Msg-Id": "again"},
    )
    sentinel = await pipeline.says(CUSTOMER, "hoy")  # queued behind the redelivery in the same partition

    assert await pipeline.received_until(CUSTOMER, sentinel) == ["wamid.REDELIVER", sentinel]
    await pipeline.replies_all_sent()
    assert len(pipeline.sandbox.messages(to=CUSTOMER)) == await _replies_queued(pipeline, CUSTOMER) == 2


async def test_messages_that_arrive_out_of_order_are_each_handled_once(pipeline: Pipeline) -> None:
    # Meta does not guarantee order: the address arrives before the first message describing the problem.
    await pipeline.post(text_message("wamid.LATE2", CUSTOMER, "irarrázaval 1234", timestamp=1_760_000_100))
    await pipeline.post(
        text_message("wamid.LATE1", CUSTOMER, "se rompió la cañería en ñuñoa, es urgente", timestamp=1_760_000_000)
    )

    assert sorted(await _received(pipeline, CUSTOMER, 2)) == ["wamid.LATE1", "wamid.LATE2"]
    replies = await pipeline.outbox(CUSTOMER, 2)
    assert len(replies) == 2  # each message got an answer; nothing was lost


async def test_delivery_statuses_are_recorded_against_the_message_we_sent(pipeline: Pipeline) -> None:
    await pipeline.says(CUSTOMER, "hola, necesito un electricista")
    await pipeline.outbox(CUSTOMER, 1)
    [sent] = pipeline.sandbox.messages(to=CUSTOMER)
    status = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "56229990000", "phone_number_id": "106540352242922"},
            "statuses": [
                {"id": sent["wamid"], "status": "delivered", "timestamp": "1760000200", "recipient_id": CUSTOMER},
                {"id": sent["wamid"], "status": "read", "timestamp": "1760000300", "recipient_id": CUSTOMER},
            ],
        }}]}],
    }  # fmt: skip

    await pipeline.post(status)
    await pipeline.post(status)  # Meta retries statuses too

    # The customer's statuses and messages share a partition: once this message is handled, so is every
    # status posted before it, retried ones included.
    sentinel = await pipeline.says(CUSTOMER, "hoy")
    await pipeline.received_until(CUSTOMER, sentinel)
    events = await pipeline.store.read_stream(deliveries_stream_id(await pipeline.person(CUSTOMER)))
    assert [(e.type, e.data["status"], e.data["wamid"]) for e in events] == [
        ("ReplyDeliveryUpdated", "delivered", sent["wamid"]),
        ("ReplyDeliveryUpdated", "read", sent["wamid"]),
    ]
