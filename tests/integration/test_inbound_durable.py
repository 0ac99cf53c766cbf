"""The orchestrator's one durable consumer of INBOUND, and how it takes over from the consumers per partition
of earlier releases: nothing they still owed is skipped, what they had settled is not read again from the
stream's beginning, and they are gone afterwards."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from contracts.inbound import InboundEnvelope, InboundMessage, normalize
from contracts.subjects import INBOUND_STREAM, inbound_subject, partition_of
from contracts.whatsapp import WebhookPayload
from infra.jetstream import ensure_topology
from infra.pull_feed import PullFeed
from orchestrator.inbound_consumer import INBOUND, run_partitions
from orchestrator.inbound_durable import INBOUND_CONSUMER, ensure_inbound_consumer
from tests.whatsapp_builders import text_message

pytestmark = pytest.mark.integration

PARTITIONS = 2
TOKEN = "0123456789abcdef0123456789abcdef"
ANA = "56912121212"
#: A customer of the other partition.
OTRO = next(p for n in range(100) if partition_of(p := f"5698{n:07d}", PARTITIONS) != partition_of(ANA, PARTITIONS))


def _envelope(wamid: str, sender: str) -> InboundEnvelope:
    [envelope] = normalize(WebhookPayload.model_validate(text_message(wamid, sender, "hola")))
    return envelope


async def _publish(js: JetStreamContext, wamid: str, sender: str) -> None:
    envelope = _envelope(wamid, sender)
    subject = inbound_subject(envelope.sender_key, envelope.dedupe_key, PARTITIONS, TOKEN)
    await js.publish(subject, orjson.dumps(envelope.model_dump(mode="json")), headers={"Nats-Msg-Id": wamid})


async def _old_consumers_take(js: JetStreamContext, sender: str, *, acknowledged: int, held: int) -> None:
    """What an earlier release did: its partition's consumer handed out messages, some acknowledged."""
    partition = partition_of(sender, PARTITIONS)
    name = INBOUND.consumer_name(partition)
    taken: list[object] = []
    feed = PullFeed(js, INBOUND_STREAM, name, taken.append, batch=acknowledged + held)
    await feed.start()
    await feed.ask()
    for _ in range(400):
        if len(taken) == acknowledged + held:
            break
        await asyncio.sleep(0.025)
    await feed.stop()
    for message in taken[:acknowledged]:
        await message.ack()  # type: ignore[attr-defined]


async def _handled_until(js: JetStreamContext, last: str) -> list[str]:
    handled: list[str] = []

    async def handle(envelope: InboundEnvelope) -> None:
        assert isinstance(envelope, InboundMessage)
        handled.append(envelope.wamid)

    stopping = asyncio.Event()
    task = asyncio.create_task(run_partitions(js, PARTITIONS, handle, stopping, ack_wait=5))
    for _ in range(800):
        if last in handled:
            break
        await asyncio.sleep(0.025)
    stopping.set()
    await asyncio.wait_for(task, timeout=10)
    return handled


async def _with_old_consumers(js: JetStreamContext) -> None:
    await ensure_topology(js)
    for partition in range(PARTITIONS):
        await js.add_consumer(INBOUND_STREAM, INBOUND.consumer_config(partition, ack_wait=30))


async def test_the_new_consumer_takes_over_what_the_per_partition_consumers_still_owed(nats_client: NATS) -> None:
    js = nats_client.jetstream()
    await _with_old_consumers(js)
    for wamid, sender in (("ANA-1", ANA), ("OTRO-1", OTRO), ("OTRO-2", OTRO), ("ANA-2", ANA)):
        await _publish(js, wamid, sender)
    await _old_consumers_take(js, OTRO, acknowledged=1, held=1)  # OTRO-2 held by a process that died
    await _old_consumers_take(js, ANA, acknowledged=1, held=0)  # ANA-2 never handed out
    await _publish(js, "ANA-3", ANA)

    handled = await _handled_until(js, "ANA-3")

    assert {"OTRO-2", "ANA-2", "ANA-3"} <= set(handled)  # nothing owed is skipped
    assert handled.index("ANA-2") < handled.index("ANA-3")
    assert "ANA-1" not in handled  # before both partitions' ack floors: settled, not read again
    names = [info.name for info in await js.consumers_info(INBOUND_STREAM)]
    assert names == [INBOUND_CONSUMER]


async def test_consumers_that_had_settled_everything_are_not_read_again_from_the_beginning(nats_client: NATS) -> None:
    js = nats_client.jetstream()
    await _with_old_consumers(js)
    await _publish(js, "ANA-1", ANA)
    await _publish(js, "OTRO-1", OTRO)
    await _old_consumers_take(js, ANA, acknowledged=1, held=0)
    await _old_consumers_take(js, OTRO, acknowledged=1, held=0)
    await ensure_inbound_consumer(js, ack_wait=5, max_ack_pending=64)
    await _publish(js, "ANA-2", ANA)

    assert await _handled_until(js, "ANA-2") == ["ANA-2"]


async def test_an_existing_consumer_keeps_where_it_started_and_takes_new_settings(nats_client: NATS) -> None:
    js = nats_client.jetstream()
    await _with_old_consumers(js)
    await _publish(js, "ANA-1", ANA)
    await _old_consumers_take(js, ANA, acknowledged=1, held=0)
    await ensure_inbound_consumer(js, ack_wait=5, max_ack_pending=10)
    started_at = (await js.consumer_info(INBOUND_STREAM, INBOUND_CONSUMER)).config.opt_start_seq

    await ensure_inbound_consumer(js, ack_wait=7, max_ack_pending=20)

    config = (await js.consumer_info(INBOUND_STREAM, INBOUND_CONSUMER)).config
    assert (config.opt_start_seq, config.ack_wait, config.max_ack_pending) == (started_at, 7, 20)
