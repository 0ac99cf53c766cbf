"""The inbound consumer against a real JetStream: order, retries with backoff, dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson
import pytest
from nats.aio.client import Client as NATS

from contracts.inbound import InboundEnvelope, normalize
from contracts.subjects import DEADLETTER_STREAM, REASON_HEADER, inbound_subject
from contracts.whatsapp import WebhookPayload
from infra.jetstream import ensure_topology
from orchestrator import consumer
from orchestrator.consumer import run_partitions
from tests.whatsapp_builders import text_message

PARTITIONS = 2


def _envelope(wamid: str, sender: str = "56912121212") -> InboundEnvelope:
    [envelope] = normalize(WebhookPayload.model_validate(text_message(wamid, sender, "hola")))
    return envelope


async def _publish(nc: NATS, envelope: InboundEnvelope) -> None:
    js = nc.jetstream()
    await js.publish(
        inbound_subject(envelope.sender_key, envelope.dedupe_key, PARTITIONS),
        orjson.dumps(envelope.model_dump(mode="json")),
        headers={"Nats-Msg-Id": envelope.dedupe_key},
    )


async def _run_until(
    nc: NATS, handle: Callable[[InboundEnvelope], Awaitable[object]], done: Callable[[], bool]
) -> None:
    stopping = asyncio.Event()
    task = asyncio.create_task(run_partitions(nc.jetstream(), PARTITIONS, handle, stopping, ack_wait=5))
    for _ in range(400):
        if done():
            break
        await asyncio.sleep(0.025)
    stopping.set()
    await asyncio.wait_for(task, timeout=10)


async def test_one_senders_messages_are_handled_in_the_order_they_were_stored(nats_client: NATS) -> None:
    await ensure_topology(nats_client.jetstream())
    handled: list[str] = []

    async def handle(envelope: InboundEnvelope) -> None:
        handled.append(envelope.dedupe_key)

    for n in range(20):
        await _publish(nats_client, _envelope(f"wamid.ORDER{n:02d}"))
    await _run_until(nats_client, handle, lambda: len(handled) == 20)

    assert handled == [f"wamid.ORDER{n:02d}" for n in range(20)]


async def test_a_failing_message_is_retried_and_holds_back_the_next_one_of_its_partition(
    nats_client: NATS, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ensure_topology(nats_client.jetstream())
    monkeypatch.setattr(consumer, "BACKOFF_SECONDS", (0.05,) * 5)
    handled: list[str] = []
    failures = {"wamid.FLAKY": 2}

    async def handle(envelope: InboundEnvelope) -> None:
        if failures.get(envelope.dedupe_key, 0) > 0:
            failures[envelope.dedupe_key] -= 1
            raise ConnectionError("database restarting")
        handled.append(envelope.dedupe_key)

    await _publish(nats_client, _envelope("wamid.FLAKY"))
    await _publish(nats_client, _envelope("wamid.AFTER"))
    await _run_until(nats_client, handle, lambda: len(handled) == 2)

    assert handled == ["wamid.FLAKY", "wamid.AFTER"]


async def test_a_message_that_keeps_failing_is_parked_in_the_dead_letter_stream_with_its_error(
    nats_client: NATS, monkeypatch: pytest.MonkeyPatch
) -> None:
    js = nats_client.jetstream()
    await ensure_topology(js)
    monkeypatch.setattr(consumer, "BACKOFF_SECONDS", (0.02,) * 5)
    handled: list[str] = []

    async def handle(envelope: InboundEnvelope) -> None:
        if envelope.dedupe_key == "wamid.POISON":
            raise ValueError("a bug, not a blip")
        handled.append(envelope.dedupe_key)

    await _publish(nats_client, _envelope("wamid.POISON"))
    await _publish(nats_client, _envelope("wamid.NEXT"))
    await _run_until(nats_client, handle, lambda: handled == ["wamid.NEXT"])

    assert handled == ["wamid.NEXT"]
    parked = await js.get_last_msg(DEADLETTER_STREAM, "conectapro.deadletter.orchestrator")
    assert b"wamid.POISON" in (parked.data or b"")
    assert "a bug, not a blip" in (parked.headers or {})[REASON_HEADER]
    assert f"failed {consumer.MAX_DELIVERIES} times" in (parked.headers or {})[REASON_HEADER]


async def test_an_envelope_that_cannot_be_parsed_is_parked_at_once(nats_client: NATS) -> None:
    js = nats_client.jetstream()
    await ensure_topology(js)
    handled: list[str] = []

    async def handle(envelope: InboundEnvelope) -> None:
        handled.append(envelope.dedupe_key)

    await js.publish(inbound_subject("x", "bad", PARTITIONS), b'{"kind": "telegram"}', headers={"Nats-Msg-Id": "bad"})
    await _publish(nats_client, _envelope("wamid.FINE", sender="x"))
    await _run_until(nats_client, handle, lambda: handled == ["wamid.FINE"])

    parked = await js.get_last_msg(DEADLETTER_STREAM, "conectapro.deadletter.orchestrator")
    assert parked.data == b'{"kind": "telegram"}'
    assert "unparseable inbound message" in (parked.headers or {})[REASON_HEADER]
