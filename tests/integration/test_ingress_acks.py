"""The ingress's own collection of JetStream acknowledgements: 200 only for what the stream stored."""

from __future__ import annotations

import asyncio
import time

import pytest
from nats.aio.client import Client as NATS

from contracts.inbound import InboundEnvelope, normalize
from contracts.subjects import INBOUND_STREAM
from contracts.whatsapp import WebhookPayload
from infra.jetstream import ensure_topology
from ingress.acks import AckBatch, AckInbox, AckRefused
from ingress.publisher import BrokerUnavailable, InboundPublisher
from privacy.person_tokens import PersonTokens
from tests.whatsapp_builders import text_message

TOKENS = PersonTokens(b"ingress-acks-tests-subject-key-01")


def _envelopes(*wamids: str) -> list[InboundEnvelope]:
    """Messages of just now: JetStream's duplicate window catches their repeats, no lookup is made."""
    now = int(time.time())
    payload = text_message(wamids[0], "56912340000", "hola", timestamp=now)
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"] = [{**value["messages"][0], "id": wamid} for wamid in wamids]
    return normalize(WebhookPayload.model_validate(payload))


async def test_every_update_of_a_request_is_acknowledged_and_repeats_count_as_duplicates(
    nats_client: NATS,
) -> None:
    js = nats_client.jetstream()
    await ensure_topology(js)
    publisher = InboundPublisher(nats_client, js, partitions=4, person_token=TOKENS)

    first = await publisher.publish(_envelopes("wamid.A1", "wamid.A2", "wamid.A3"))
    again = await publisher.publish(_envelopes("wamid.A2", "wamid.A4"))

    assert (first.published, first.duplicates) == (3, 0)
    assert (again.published, again.duplicates) == (1, 1)
    assert (await js.stream_info(INBOUND_STREAM)).state.messages == 4


async def test_a_publish_no_stream_stores_is_refused_at_once(nats_client: NATS) -> None:
    js = nats_client.jetstream()  # no topology: nothing stores conectapro.inbound.>
    publisher = InboundPublisher(nats_client, js, partitions=4, person_token=TOKENS, ack_timeout=30.0)

    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="no stream"):
        await publisher.publish(_envelopes("wamid.NOSTREAM"))
    assert time.monotonic() - started < 5.0  # the server's no-responders answer, not the timeout


async def test_an_acknowledgement_that_never_comes_fails_the_request_after_the_timeout(nats_client: NATS) -> None:
    js = nats_client.jetstream()
    silent = await nats_client.subscribe("conectapro.inbound.>")  # takes the publish, never answers
    publisher = InboundPublisher(nats_client, js, partitions=4, person_token=TOKENS, ack_timeout=0.3)
    try:
        with pytest.raises(BrokerUnavailable, match="did not acknowledge 2 publish"):
            await publisher.publish(_envelopes("wamid.SILENT1", "wamid.SILENT2"))
        assert (await silent.next_msg(timeout=1.0)).headers["Nats-Msg-Id"] == "wamid.SILENT1"  # type: ignore[index]
    finally:
        await silent.unsubscribe()


async def test_a_refusal_by_jetstream_fails_the_batch_and_a_late_answer_is_ignored(nats_client: NATS) -> None:
    inbox = AckInbox(nats_client)
    await inbox.start()
    refused = AckBatch(asyncio.get_running_loop().create_future())
    first, second = inbox.reply_for(refused), inbox.reply_for(refused)

    await nats_client.publish(first, b'{"error":{"code":503,"description":"insufficient resources"}}')
    with pytest.raises(AckRefused, match="insufficient resources"):
        await refused.future
    inbox.forget(refused)
    await nats_client.publish(second, b'{"stream":"INBOUND","seq":9}')  # after its request gave up
    await nats_client.flush()

    assert refused.pending == 2


async def test_answers_are_handled_from_the_read_loop_with_the_installed_nats_client(nats_client: NATS) -> None:
    # Else every answer costs a task wakeup more: a nats-py upgrade that renamed the queue shows here.
    inbox = AckInbox(nats_client)
    await inbox.start()
    waiting = AckBatch(asyncio.get_running_loop().create_future())
    reply = inbox.reply_for(waiting)

    await nats_client.publish(reply, b'{"stream":"INBOUND","seq":1,"duplicate":true}')
    await asyncio.wait_for(waiting.future, timeout=5.0)

    assert inbox.on_arrival
    assert waiting.duplicates == 1
