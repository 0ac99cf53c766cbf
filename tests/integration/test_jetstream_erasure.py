"""Erasure in JetStream finds a person's raw webhooks and dead letters by the person token of their
subjects: it reads their messages, not the streams'. Only what no token names is read through: updates
stored before subjects carried tokens, and letters without one."""

from __future__ import annotations

from typing import Any, cast

import orjson
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from contracts.inbound import InboundEnvelope, normalize
from contracts.subjects import (
    DEADLETTER_INGRESS,
    DEADLETTER_ORCHESTRATOR,
    DEADLETTER_STREAM,
    INBOUND_STREAM,
    INBOUND_SUBJECT_PREFIX,
    dead_letter_subject,
    dedupe_token,
    partition_of,
)
from contracts.whatsapp import WebhookPayload
from infra.jetstream import ensure_topology
from ingress.publisher import InboundPublisher
from ingress.unreadable_parts import read_webhook
from privacy.jetstream_erasure import delete_messages_of
from privacy.person_tokens import PersonTokens
from tests.whatsapp_builders import batch, statuses, text_message

pytestmark = pytest.mark.integration

PARTITIONS = 4
TOKENS = PersonTokens(b"erasure-tests-subject-key-0123456")
CAMILA = "56987650001"
OTHERS = [f"569111{n:05d}" for n in range(60)]


class CountingJetStream:
    """The JetStream context, counting the stored messages read one by one."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self.reads = 0

    async def get_msg(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        return await self._js.get_msg(*args, **kwargs)

    async def get_last_msg(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        return await self._js.get_last_msg(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._js, name)


async def _publish(nc: NATS, js: JetStreamContext, payload: dict[str, Any]) -> None:
    await InboundPublisher(nc, js, partitions=PARTITIONS, person_token=TOKENS).publish(_envelopes(payload))


def _envelopes(payload: dict[str, Any]) -> list[InboundEnvelope]:
    return normalize(WebhookPayload.model_validate(payload))


async def _count(js: JetStreamContext, stream: str) -> int:
    return (await js.stream_info(stream)).state.messages


async def _holding(js: JetStreamContext, stream: str, needle: str) -> int:
    info = await js.stream_info(stream)
    found = 0
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            message = await js.get_msg(stream, sequence)
        except Exception:  # deleted
            continue
        found += needle.encode() in (message.data or b"")
    return found


@pytest.fixture
async def js(nats_client: NATS) -> JetStreamContext:
    js = nats_client.jetstream()
    await ensure_topology(js)
    return js


async def test_a_persons_messages_are_found_by_subject_without_reading_everyone_elses(
    nats_client: NATS, js: JetStreamContext
) -> None:
    for round_ in range(5):
        round_of = [(f"wamid.O{round_}{n}", phone, "hola") for n, phone in enumerate(OTHERS)]
        await _publish(nats_client, js, batch(round_of))
    await _publish(nats_client, js, text_message("wamid.CAM1", CAMILA, "se me rompió la cañería"))
    await _publish(nats_client, js, text_message("wamid.CAM2", CAMILA, "irarrázaval 1234"))
    await _publish(nats_client, js, statuses(CAMILA, ["wamid.REPLY1"]))  # delivered, read
    others = len(OTHERS) * 5
    assert await _count(js, INBOUND_STREAM) == others + 4

    counting = CountingJetStream(js)
    removed = await delete_messages_of(cast(JetStreamContext, counting), "+56 9 8765 0001", person_token=TOKENS)

    assert removed == 4
    assert await _count(js, INBOUND_STREAM) == others
    assert await _holding(js, INBOUND_STREAM, CAMILA) == 0
    # Her four, one "no more" per subject filter and stream: not the 300 others'.
    assert counting.reads <= 4 + 4


async def test_updates_stored_before_person_tokens_are_still_found_by_reading_those_alone(
    nats_client: NATS, js: JetStreamContext
) -> None:
    for phone, wamid in ((CAMILA, "wamid.LEGACY1"), (OTHERS[0], "wamid.LEGACY2")):
        [envelope] = _envelopes(text_message(wamid, phone, "hola"))
        legacy = f"{INBOUND_SUBJECT_PREFIX}.p{partition_of(phone, PARTITIONS)}.{dedupe_token(envelope.dedupe_key)}"
        await js.publish(legacy, orjson.dumps(envelope.model_dump(mode="json")))
    await _publish(nats_client, js, batch([(f"wamid.N{n}", phone, "hola") for n, phone in enumerate(OTHERS)]))
    await _publish(nats_client, js, text_message("wamid.CAM3", CAMILA, "hoy"))

    counting = CountingJetStream(js)
    removed = await delete_messages_of(cast(JetStreamContext, counting), CAMILA, person_token=TOKENS)

    assert removed == 2
    assert await _holding(js, INBOUND_STREAM, CAMILA) == 0
    assert await _holding(js, INBOUND_STREAM, OTHERS[0]) == 2  # his old and new ones stay
    assert counting.reads <= 1 + 2 + 4  # hers by token, the two old ones, the "no more"s


async def test_dead_letters_go_too_those_parked_with_a_token_found_by_it(js: JetStreamContext) -> None:
    [envelope] = _envelopes(text_message("wamid.PARK1", CAMILA, "hola"))
    body = orjson.dumps(envelope.model_dump(mode="json"))
    inbound = f"{INBOUND_SUBJECT_PREFIX}.p1.{TOKENS(CAMILA)}.{dedupe_token(envelope.dedupe_key)}"
    await js.publish(dead_letter_subject(DEADLETTER_ORCHESTRATOR, inbound), body)  # parked now
    await js.publish(DEADLETTER_ORCHESTRATOR, body)  # parked before person tokens
    await js.publish(DEADLETTER_INGRESS, b'{"entry": [{"from": "' + CAMILA.encode() + b'"}]}')  # unreadable webhook
    for phone in OTHERS[:20]:
        other = f"{INBOUND_SUBJECT_PREFIX}.p1.{TOKENS(phone)}.{dedupe_token(phone)}"
        await js.publish(dead_letter_subject(DEADLETTER_ORCHESTRATOR, other), phone.encode())

    counting = CountingJetStream(js)
    removed = await delete_messages_of(cast(JetStreamContext, counting), CAMILA, person_token=TOKENS)

    assert removed == 3
    assert await _count(js, DEADLETTER_STREAM) == 20
    assert counting.reads <= 3 + 4


async def test_unreadable_parts_the_ingress_parked_go_too_by_token_or_read_through(
    nats_client: NATS, js: JetStreamContext
) -> None:
    publisher = InboundPublisher(nats_client, js, partitions=PARTITIONS, person_token=TOKENS)
    hers = text_message("wamid.PART1", CAMILA, "hola")
    del hers["entry"][0]["changes"][0]["value"]["messages"][0]["id"]  # names her: parked under her token
    no_value = text_message("wamid.PART2", CAMILA, "irarrázaval 1234")
    del no_value["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"]  # a change: nobody for sure
    others = [text_message(f"wamid.PO{n}", phone, "hola") for n, phone in enumerate(OTHERS[:20])]
    for payload in others:
        del payload["entry"][0]["changes"][0]["value"]["messages"][0]["type"]
    for payload in [hers, no_value, *others]:
        _, parts = read_webhook(payload)
        assert await publisher.park_parts(parts) == 1

    counting = CountingJetStream(js)
    removed = await delete_messages_of(cast(JetStreamContext, counting), CAMILA, person_token=TOKENS)

    assert removed == 2
    assert await _holding(js, DEADLETTER_STREAM, CAMILA) == 0
    assert await _count(js, DEADLETTER_STREAM) == 20
    # Hers by token, the one naming nobody read through, the "no more"s: not the 20 others'.
    assert counting.reads <= 2 + 6
