"""The inbound consumer against a real JetStream: order per customer, retries with backoff, dead letters,
and customers of one partition that do not wait for each other."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson
import pytest
from nats.aio.client import Client as NATS

from contracts.inbound import InboundEnvelope, InboundMessage, normalize
from contracts.subjects import DEADLETTER_STREAM, REASON_HEADER, inbound_subject, partition_of
from contracts.whatsapp import WebhookPayload
from infra.jetstream import connect, ensure_topology
from orchestrator import consumer
from orchestrator.inbound_consumer import INBOUND, run_partitions
from orchestrator.inbound_durable import INBOUND_CONSUMER
from tests.conftest import Infra
from tests.whatsapp_builders import text_message

pytestmark = pytest.mark.integration

PARTITIONS = 2
#: The person token of every update these tests publish (the consumer reads only the partition).
TOKEN = "0123456789abcdef0123456789abcdef"
ANA = "56912121212"
#: Another customer whose messages share Ana's partition.
BETO = next(p for n in range(100) if partition_of(p := f"5698{n:07d}", PARTITIONS) == partition_of(ANA, PARTITIONS))


#: What a customer wrote: no reason for parking their message may quote it.
CLEAR_TEXT = "soy Camila, vivo en Irarrázaval 1234"


def _envelope(wamid: str, sender: str = "56912121212", text: str = "hola") -> InboundEnvelope:
    [envelope] = normalize(WebhookPayload.model_validate(text_message(wamid, sender, text)))
    return envelope


async def _publish(nc: NATS, envelope: InboundEnvelope) -> None:
    js = nc.jetstream()
    await js.publish(
        inbound_subject(envelope.sender_key, envelope.dedupe_key, PARTITIONS, TOKEN),
        orjson.dumps(envelope.model_dump(mode="json")),
        headers={"Nats-Msg-Id": envelope.dedupe_key},
    )


async def _run_until(
    nc: NATS, handle: Callable[[InboundEnvelope], Awaitable[object]], done: Callable[[], bool], *, ack_wait: float = 5
) -> None:
    stopping = asyncio.Event()
    task = asyncio.create_task(run_partitions(nc.jetstream(), PARTITIONS, handle, stopping, ack_wait=ack_wait))
    await _until(done)
    stopping.set()
    await asyncio.wait_for(task, timeout=10)


async def _until(done: Callable[[], bool]) -> None:
    for _ in range(800):  # 20 s at most
        if done():
            return
        await asyncio.sleep(0.025)


async def test_one_senders_messages_are_handled_in_the_order_they_were_stored(nats_client: NATS) -> None:
    await ensure_topology(nats_client.jetstream())
    handled: list[str] = []

    async def handle(envelope: InboundEnvelope) -> None:
        handled.append(envelope.dedupe_key)

    for n in range(20):
        await _publish(nats_client, _envelope(f"wamid.ORDER{n:02d}"))
    await _run_until(nats_client, handle, lambda: len(handled) == 20)

    assert handled == [f"wamid.ORDER{n:02d}" for n in range(20)]


async def test_a_failing_message_is_retried_and_holds_back_the_next_one_of_its_customer(
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


async def test_a_message_that_keeps_failing_is_parked_with_what_failed_where_but_not_what_was_written(
    nats_client: NATS, monkeypatch: pytest.MonkeyPatch
) -> None:
    js = nats_client.jetstream()
    await ensure_topology(js)
    monkeypatch.setattr(consumer, "BACKOFF_SECONDS", (0.02,) * 5)
    handled: list[str] = []

    async def handle(envelope: InboundEnvelope) -> None:
        if envelope.dedupe_key == "wamid.POISON":
            assert isinstance(envelope, InboundMessage)
            raise ValueError(f"a bug on {envelope.text!r} from {envelope.sender_id}")  # an error quoting its input
        handled.append(envelope.dedupe_key)

    await _publish(nats_client, _envelope("wamid.POISON", text=CLEAR_TEXT))
    await _publish(nats_client, _envelope("wamid.NEXT"))
    await _run_until(nats_client, handle, lambda: handled == ["wamid.NEXT"])

    assert handled == ["wamid.NEXT"]
    parked = await js.get_last_msg(DEADLETTER_STREAM, f"conectapro.deadletter.orchestrator.{TOKEN}")
    assert b"wamid.POISON" in (parked.data or b"")
    reason = (parked.headers or {})[REASON_HEADER]
    assert reason.startswith(f"failed {consumer.MAX_DELIVERIES} times: ValueError at ")
    assert "test_orchestrator_consumer.handle:" in reason
    assert [word for word in ("a bug", "Camila", "Irarrázaval", "1234", ANA) if word in reason] == []


async def test_an_envelope_that_cannot_be_parsed_is_parked_at_once(nats_client: NATS) -> None:
    js = nats_client.jetstream()
    await ensure_topology(js)
    handled: list[str] = []

    async def handle(envelope: InboundEnvelope) -> None:
        handled.append(envelope.dedupe_key)

    bad = inbound_subject("x", "bad", PARTITIONS, TOKEN)
    # Not an envelope of any kind this release reads, holding a phone and a customer's words.
    body = orjson.dumps({"kind": "message", "sender_id": ANA, "text": CLEAR_TEXT, "type": "text"})
    await js.publish(bad, body, headers={"Nats-Msg-Id": "bad"})
    await _publish(nats_client, _envelope("wamid.FINE", sender="x"))
    await _run_until(nats_client, handle, lambda: handled == ["wamid.FINE"])

    parked = await js.get_last_msg(DEADLETTER_STREAM, f"conectapro.deadletter.orchestrator.{TOKEN}")
    assert parked.data == body
    reason = (parked.headers or {})[REASON_HEADER]
    assert reason == "unparseable inbound message: ValidationError (message.wamid: missing; message.raw: missing)"


async def test_a_customer_whose_message_keeps_failing_does_not_hold_up_another_customer_of_its_partition(
    nats_client: NATS, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ensure_topology(nats_client.jetstream())
    # Long enough that, were the partition held back, Ana's message would be parked before Beto's ran.
    monkeypatch.setattr(consumer, "BACKOFF_SECONDS", (0.5,) * 5)
    handled: list[str] = []
    beto_handled = asyncio.Event()

    async def handle(envelope: InboundEnvelope) -> None:
        if envelope.dedupe_key == "wamid.ANA1" and not beto_handled.is_set():
            raise ConnectionError("fails until Beto was answered")
        handled.append(envelope.dedupe_key)
        if envelope.dedupe_key == "wamid.BETO1":
            beto_handled.set()

    for wamid, sender in (("wamid.ANA1", ANA), ("wamid.ANA2", ANA), ("wamid.BETO1", BETO)):
        await _publish(nats_client, _envelope(wamid, sender))
    await _run_until(nats_client, handle, lambda: len(handled) == 3)

    assert handled[0] == "wamid.BETO1"  # not behind Ana's retries
    assert handled[1:] == ["wamid.ANA1", "wamid.ANA2"]  # Ana's second message waited for her first


async def test_a_slow_message_does_not_hold_up_another_customer_of_its_partition(nats_client: NATS) -> None:
    await ensure_topology(nats_client.jetstream())
    handled: list[str] = []
    beto_handled = asyncio.Event()

    async def handle(envelope: InboundEnvelope) -> None:
        if envelope.dedupe_key == "wamid.SLOW":
            # A slow LLM call: it ends only once Beto, queued behind it in the partition, was answered.
            await asyncio.wait_for(beto_handled.wait(), timeout=20)
        handled.append(envelope.dedupe_key)
        if envelope.dedupe_key == "wamid.BETO":
            beto_handled.set()

    await _publish(nats_client, _envelope("wamid.SLOW", ANA))
    await _publish(nats_client, _envelope("wamid.ANA-NEXT", ANA))
    await _publish(nats_client, _envelope("wamid.BETO", BETO))
    await _run_until(nats_client, handle, lambda: len(handled) == 3)

    assert handled == ["wamid.BETO", "wamid.SLOW", "wamid.ANA-NEXT"]


async def test_after_a_crash_a_customer_s_later_message_waits_for_the_ones_the_dead_process_held(
    infra: Infra, nats_client: NATS
) -> None:
    """The dead process's messages come back only after their ack wait; a later message of the same
    customer, delivered before that, must not overtake them."""
    await ensure_topology(nats_client.jetstream())
    doomed = await connect(infra.nats_url, "doomed-orchestrator")
    taken: list[str] = []

    async def hang(envelope: InboundEnvelope) -> None:
        taken.append(envelope.dedupe_key)
        await asyncio.Event().wait()  # never finishes: the process dies holding it

    await _publish(nats_client, _envelope("wamid.HELD1", ANA))
    await _publish(nats_client, _envelope("wamid.HELD2", ANA))
    crashed = asyncio.create_task(run_partitions(doomed.jetstream(), PARTITIONS, hang, asyncio.Event(), ack_wait=1))
    await _until(lambda: taken == ["wamid.HELD1"])
    for _ in range(400):  # both were handed to the doomed process
        if (await nats_client.jetstream().consumer_info(INBOUND.stream, INBOUND_CONSUMER)).num_ack_pending == 2:
            break
        await asyncio.sleep(0.025)
    await doomed.close()  # no ack, no nak: a crash
    crashed.cancel()
    await asyncio.gather(crashed, return_exceptions=True)
    await _publish(nats_client, _envelope("wamid.LATER", ANA))
    handled: list[str] = []

    async def handle(envelope: InboundEnvelope) -> None:
        handled.append(envelope.dedupe_key)

    await _run_until(nats_client, handle, lambda: len(handled) == 3, ack_wait=1)

    assert handled == ["wamid.HELD1", "wamid.HELD2", "wamid.LATER"]


async def test_alone_on_its_consumer_a_process_asks_who_holds_what_once_not_per_message(
    nats_client: NATS, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the server said every pending message is ours, unbroken delivery numbers say it again."""
    js = nats_client.jetstream()
    await ensure_topology(js)
    asked: list[str] = []
    consumer_info = js.consumer_info

    async def counted_consumer_info(stream: str, name: str, *args: object, **kwargs: object) -> object:
        asked.append(name)
        return await consumer_info(stream, name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(js, "consumer_info", counted_consumer_info)
    handled: list[str] = []

    async def handle(envelope: InboundEnvelope) -> None:
        handled.append(envelope.dedupe_key)

    stopping = asyncio.Event()
    task = asyncio.create_task(run_partitions(js, PARTITIONS, handle, stopping, ack_wait=5))
    expected = []
    for n in range(20):  # one at a time: each is delivered on its own
        envelope = _envelope(f"wamid.ALONE{n:02d}", ANA if n % 2 else f"5697{n:07d}")
        expected.append(envelope.dedupe_key)
        await _publish(nats_client, envelope)
        await _until(lambda: len(handled) == len(expected))
    stopping.set()
    await asyncio.wait_for(task, timeout=10)

    assert sorted(handled) == sorted(expected)
    assert len(asked) <= 2, asked  # the first message, a race at most once more
