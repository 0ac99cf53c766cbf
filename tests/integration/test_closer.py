"""The closer against real PostgreSQL and NATS JetStream, with a clock the test moves (no real waiting).

Conversations are written by the real handler; the closer indexes them, publishes due timers to JetStream;
the orchestrator's commands consumer decides them on the customers' streams.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta

import pytest
from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError

from closer.deadlines import TimerDurations
from closer.timers import CLOSER_SQL_DIR
from closer.worker import CONSUMER, Closer, JetStreamCommandPublisher
from contracts.events import RecordedEvent
from contracts.outbound import ReplyQueued
from contracts.subjects import COMMANDS_STREAM
from eventstore import PostgresEventStore, apply_migrations
from eventstore.store import Checkpoint
from infra.jetstream import ensure_topology
from orchestrator.commands_consumer import commands_consumer_name, run_command_partitions
from tests.conftest import Infra
from tests.eventstore_contract import HANG_GUARD, eventually
from tests.integration.wakeup_support import woken_process
from tests.unit.audit_support import CAMILA, T0, World, customer_key, offered_to_juana

pytestmark = pytest.mark.integration

PARTITIONS = 2
LEAD = f"{customer_key(CAMILA)}.1"


@dataclass
class Running:
    world: World
    store: PostgresEventStore
    nc: NATS
    closer: Closer

    def restarted_closer(self) -> Closer:
        js = self.nc.jetstream()
        publisher = JetStreamCommandPublisher(js, partitions=PARTITIONS)
        return Closer(self.store, publisher, TimerDurations(), clock=lambda: self.world.now)

    async def stream_when(self, condition: Callable[[list[RecordedEvent]], bool]) -> list[RecordedEvent]:
        """Camila's stream once ``condition`` holds (the commands consumer decides asynchronously)."""
        for _ in range(300):
            events = await self.world.stream(CAMILA)
            if condition(events):
                return events
            await asyncio.sleep(0.05)
        raise AssertionError(f"condition never held; stream ends with {[e.type for e in events][-8:]}")

    async def consumers_idle(self) -> None:
        """Every command published so far has been decided and acknowledged."""
        js = self.nc.jetstream()
        for _ in range(300):
            infos = [await js.consumer_info(COMMANDS_STREAM, commands_consumer_name(p)) for p in range(PARTITIONS)]
            if all(info.num_pending == 0 and info.num_ack_pending == 0 for info in infos):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the commands consumers never caught up")


@pytest.fixture
async def running(migrated_database: str, nats_client: NATS) -> AsyncIterator[Running]:
    js = nats_client.jetstream()
    with contextlib.suppress(NotFoundError):
        await js.delete_stream(COMMANDS_STREAM)  # each test starts with no command published
    await ensure_topology(js)
    await apply_migrations(migrated_database, extra_dirs=[CLOSER_SQL_DIR])
    store = await PostgresEventStore.connect(migrated_database, max_size=8)
    world = World(store)
    stopping = asyncio.Event()
    consumers = asyncio.create_task(run_command_partitions(js, PARTITIONS, world.commands.handle, stopping))
    following = asyncio.create_task(world.directory.follow())  # as in the orchestrator: the directory follows
    publisher = JetStreamCommandPublisher(js, partitions=PARTITIONS)
    closer = Closer(store, publisher, TimerDurations(), clock=lambda: world.now)
    try:
        yield Running(world, store, nats_client, closer)
    finally:
        stopping.set()
        following.cancel()
        await asyncio.gather(consumers, following, return_exceptions=True)
        await store.close()


def types(events: list[RecordedEvent]) -> list[str]:
    return [event.type for event in events]


async def test_an_offer_left_unanswered_goes_to_the_next_candidate_once_the_clock_passes_ten_minutes(
    running: Running,
) -> None:
    world, closer = running.world, running.closer
    juana, pedro = await offered_to_juana(world)
    await closer.catch_up()
    offered_at = T0 + timedelta(minutes=3)

    assert await closer.tick(offered_at + timedelta(minutes=9)) == []
    world.now = offered_at + timedelta(minutes=10)
    [published] = await closer.tick()
    assert published.startswith(f"timeout-offer:{LEAD}:{juana}:")

    events = await running.stream_when(lambda events: "OfferExpired" in types(events))
    offers = [e.data["provider_id"] for e in events if e.type == "ProviderOffered"]
    assert offers == [juana, pedro]
    expired = next(e for e in events if e.type == "OfferExpired")
    assert expired.metadata.correlation_id == published
    assert expired.metadata.recorded_at == world.now


async def test_an_abandoned_draft_expires_with_a_goodbye(running: Running) -> None:
    world, closer = running.world, running.closer
    await world.says(CAMILA, "hola, se me rompió la cañería del baño, estoy en ñuñoa")
    await world.taps(CAMILA, "urgency:hoy", "Hoy")
    await closer.catch_up()
    world.now = T0 + timedelta(minutes=1, hours=6)  # six hours after her last message
    assert len(await closer.tick()) == 1

    events = await running.stream_when(lambda events: "LeadExpired" in types(events))
    goodbye = events[-1].to_event()
    assert isinstance(goodbye, ReplyQueued)
    assert goodbye.purpose == "expired"
    assert goodbye.message.plain_text.startswith("Como no alcanzamos a completar tu solicitud")


async def test_a_repeated_tick_produces_nothing_twice(running: Running) -> None:
    world, closer = running.world, running.closer
    await offered_to_juana(world)
    await closer.catch_up()
    world.now += timedelta(minutes=30)
    first = await closer.tick()
    assert len(first) == 1
    assert await closer.tick() == []  # already published

    # A crash between publishing and recording it: the next tick publishes the same command again...
    async with running.store.pool.acquire() as conn:
        await conn.execute("UPDATE closer_timers SET published_at = NULL")
    assert await closer.tick() == first
    # ...and JetStream keeps one copy; the orchestrator decides it once.
    info = await running.nc.jetstream().stream_info(COMMANDS_STREAM)
    assert info.state.messages == 1
    await running.consumers_idle()
    events = await world.stream(CAMILA)
    assert types(events).count("OfferExpired") == 1


async def test_a_restarted_closer_keeps_its_index_and_follows_what_happened_meanwhile(running: Running) -> None:
    world, closer = running.world, running.closer
    juana, _ = await offered_to_juana(world)
    await closer.catch_up()
    await world.taps("56933334444", f"offer:decline:{LEAD}")  # while the closer is down

    restarted = running.restarted_closer()
    assert await restarted.catch_up() > 0  # what it had not indexed yet...
    assert await running.restarted_closer().catch_up() == 0  # ...and no more: the checkpoint is stored
    world.now += timedelta(minutes=30)
    [published] = await restarted.tick()
    assert juana not in published  # Juana declined: the timer now runs for the next technician


async def test_the_closer_service_loop_indexes_and_ticks_until_stopped(running: Running) -> None:
    world = running.world
    await offered_to_juana(world)
    world.now += timedelta(minutes=30)
    stopping = asyncio.Event()
    loop = asyncio.create_task(running.closer.run(stopping, tick_seconds=0.05))
    try:
        await running.stream_when(lambda events: "OfferExpired" in types(events))
    finally:
        stopping.set()
        await loop


async def test_the_closer_takes_no_wake_ups_and_indexes_what_it_polls(migrated_database: str, infra: Infra) -> None:
    await apply_migrations(migrated_database, extra_dirs=[CLOSER_SQL_DIR])
    async with AsyncExitStack() as stack:
        writer, _ = await woken_process(stack, migrated_database, infra.nats_url, "orchestrator")
        store, nc = await woken_process(stack, migrated_database, infra.nats_url, "closer")
        js = nc.jetstream()
        await ensure_topology(js)
        world = World(writer)
        closer = Closer(store, JetStreamCommandPublisher(js, partitions=PARTITIONS), TimerDurations(),
                        clock=lambda: world.now)  # fmt: skip
        stopping = asyncio.Event()
        loop = asyncio.create_task(closer.run(stopping, tick_seconds=0.05))
        stack.push_async_callback(asyncio.wait_for, loop, HANG_GUARD)
        stack.callback(stopping.set)
        heard = nc.stats["in_msgs"]

        await world.says(CAMILA, "hola, se me rompió la cañería del baño")

        async def indexed() -> bool:
            return await store.load_checkpoint(CONSUMER) != Checkpoint.START

        await eventually(indexed)
        await nc.flush()  # a round trip: an announcement routed to it before would have arrived
        assert nc.stats["in_msgs"] == heard  # nothing was due, nothing published: no message at all
