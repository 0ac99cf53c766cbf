"""The closer forgets people against a real PostgreSQL and NATS JetStream, on a clock the test moves: the
customer who confirmed erasure on WhatsApp once their goodbye's send is recorded (or after the bounded
wait), and by retention those whose last lead ended, and who last wrote, more than the retention period ago.
Each erasure is one ``PersonForgotten``, even when a tick repeats or a run is interrupted before its mark."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from closer.deadlines import TimerDurations
from closer.forget_jobs import REQUESTED_BY, ForgetReason
from closer.forgetting import StoreForgetter
from closer.worker import Closer, JetStreamCommandPublisher
from conectapro.erasure import forget_person
from contracts.privacy_events import PRIVACY_REQUESTS_STREAM, ErasureOutcome
from contracts.subjects import DEADLETTER_STREAM, DEADLETTER_SUBJECT_PREFIX, INBOUND_STREAM, INBOUND_SUBJECT_PREFIX
from eventstore import PostgresEventStore
from infra.jetstream import ensure_topology
from privacy.setup import Privacy
from tests.integration.privacy_support import PeopleWorld, protected
from tests.unit.audit_support import T0

pytestmark = pytest.mark.integration

CAMILA, BRUNO, DIEGO, EVA = "56911120001", "56911120002", "56911120003", "56911120004"
NAMES = {CAMILA: "Camila Rojas", BRUNO: "Bruno Díaz", DIEGO: "Diego Soto", EVA: "Eva Pérez"}
RETENTION = timedelta(days=180)
GOODBYE_WAIT = timedelta(minutes=5)
INBOUND_KEPT = timedelta(days=14)


@dataclass
class Running:
    world: PeopleWorld
    store: PostgresEventStore
    privacy: Privacy
    closer: Closer
    js: JetStreamContext

    async def raw_webhooks_of(self, phone: str) -> dict[str, int]:
        """What ``phone``'s raw webhooks and dead letters would be: one in each stream."""
        await self.js.publish(f"{INBOUND_SUBJECT_PREFIX}.p0.{phone}", f'{{"from": "{phone}"}}'.encode())
        await self.js.publish(f"{DEADLETTER_SUBJECT_PREFIX}.test", f'{{"from": "{phone}"}}'.encode())
        return await self.messages()

    async def messages(self) -> dict[str, int]:
        return {s: (await self.js.stream_info(s)).state.messages for s in (INBOUND_STREAM, DEADLETTER_STREAM)}

    async def tick_at(self, moment: timedelta) -> list[str]:
        """Index what was written, then tick at ``T0 + moment``: the erasures done (commands published to
        JetStream, e.g. an abandoned draft's, are decided by nobody here)."""
        self.world.now = T0 + moment
        await self.closer.catch_up()
        return [done for done in await self.closer.tick() if done.startswith("forget-")]

    async def forgotten(self) -> list[dict[str, object]]:
        return [e.data for e in await self.store.read_stream(PRIVACY_REQUESTS_STREAM)]

    async def known(self, phone: str) -> bool:
        return await self.privacy.people.find(phone) is not None


@pytest.fixture
async def running(store: PostgresEventStore, nats_client: NATS) -> AsyncIterator[Running]:
    js = nats_client.jetstream()
    await ensure_topology(js)
    privacy = protected(store)
    world = PeopleWorld(store, privacy, NAMES)
    durations = TimerDurations(goodbye_wait=GOODBYE_WAIT, retention=RETENTION)
    forgetter = StoreForgetter(store, privacy, js, durations, clock=lambda: world.now, inbound_kept=INBOUND_KEPT)
    publisher = JetStreamCommandPublisher(js, partitions=2)
    closer = Closer(store, publisher, durations, clock=lambda: world.now, forgetter=forgetter)
    yield Running(world, store, privacy, closer, js)


async def confirms_erasure(world: PeopleWorld, phone: str, first: str = "hola, se me rompió la cañería") -> None:
    await world.says(phone, first)
    await world.says(phone, "borra mis datos")
    await world.taps(phone, "erasure:yes", "Sí, borrar")


async def test_a_confirmed_erasure_waits_for_the_goodbye_then_runs_once(running: Running) -> None:
    world = running.world
    await confirms_erasure(world, CAMILA)
    key = await world.privacy.people.find(CAMILA)
    assert await running.tick_at(timedelta(minutes=4)) == []  # the goodbye is not sent yet
    assert await running.known(CAMILA) and await running.forgotten() == []

    await world.send_everything(on_sender_stream=True)
    assert await running.tick_at(timedelta(minutes=4, seconds=1)) == [f"forget-erased:{key}"]
    assert not await running.known(CAMILA)
    [record] = await running.forgotten()
    assert record["outcome"] == ErasureOutcome.FORGOTTEN
    assert record["person_key"] == key
    assert record["requested_by"] == REQUESTED_BY[ForgetReason.CUSTOMER_REQUEST]

    assert await running.tick_at(timedelta(minutes=30)) == []  # done: never again
    assert len(await running.forgotten()) == 1


async def test_a_customer_who_never_started_a_request_is_forgotten_too(running: Running) -> None:
    await confirms_erasure(running.world, EVA, first="hola")
    await running.world.send_everything(on_sender_stream=True)
    assert len(await running.tick_at(timedelta(minutes=3))) == 1
    assert not await running.known(EVA)


async def test_a_goodbye_never_sent_is_waited_for_a_bounded_time(running: Running) -> None:
    world = running.world
    await confirms_erasure(world, CAMILA)
    assert await running.tick_at(timedelta(minutes=5)) == []
    assert await running.known(CAMILA)
    assert len(await running.tick_at(timedelta(minutes=3) + GOODBYE_WAIT)) == 1
    assert not await running.known(CAMILA)


async def test_a_run_interrupted_before_its_mark_is_not_recorded_twice(running: Running) -> None:
    world = running.world
    await confirms_erasure(world, CAMILA)
    await world.send_everything(on_sender_stream=True)
    key = await world.privacy.people.find(CAMILA)
    assert key is not None
    # As if the closer erased the person and stopped before marking its timer.
    first = await forget_person(running.store, running.privacy, None, key, requested_by="test", now=lambda: world.now)
    assert first is not None and first.outcome is ErasureOutcome.FORGOTTEN
    assert await running.tick_at(timedelta(minutes=10)) == [f"forget-erased:{key}"]
    assert len(await running.forgotten()) == 1


async def test_retention_forgets_whoever_has_been_at_rest_long_enough_and_nobody_else(running: Running) -> None:
    world = running.world
    await world.says(CAMILA, "hola, se me rompió la cañería, estoy en ñuñoa")
    await world.says(CAMILA, "cancelar")  # her lead ends at T0 + 1 min
    await world.says(BRUNO, "hola, necesito un electricista en maipú")
    await world.says(BRUNO, "cancelar")
    await world.says(DIEGO, "hola, necesito un cerrajero en providencia")  # a draft, still open
    await world.says(EVA, "hola")  # no request, but her number, name and words are kept
    world.now = T0 + timedelta(days=100)
    await world.says(BRUNO, "gracias")  # he wrote again: his period starts over

    assert await running.tick_at(RETENTION - timedelta(hours=1)) == []
    assert await running.forgotten() == []

    done = await running.tick_at(RETENTION + timedelta(hours=1))
    assert len(done) == 2
    assert not await running.known(CAMILA) and not await running.known(EVA)
    assert await running.known(BRUNO) and await running.known(DIEGO)
    records = await running.forgotten()
    assert {(r["requested_by"], r["outcome"]) for r in records} == {("retention", ErasureOutcome.FORGOTTEN)}

    assert await running.tick_at(RETENTION + timedelta(days=2)) == []  # idempotent, and nothing else due
    assert len(await running.forgotten()) == 2

    await running.tick_at(timedelta(days=100) + RETENTION + timedelta(hours=1))
    assert not await running.known(BRUNO) and await running.known(DIEGO)
    assert [r["requested_by"] for r in await running.forgotten()] == ["retention"] * 3


async def test_a_request_erases_both_jetstream_streams_retention_only_the_dead_letters(running: Running) -> None:
    # Retention comes long after INBOUND's max age dropped the webhooks: its scan of every message is spared.
    world = running.world
    await confirms_erasure(world, CAMILA)
    await world.send_everything(on_sender_stream=True)
    assert await running.raw_webhooks_of(CAMILA) == {INBOUND_STREAM: 1, DEADLETTER_STREAM: 1}
    await running.tick_at(timedelta(minutes=4))
    assert await running.messages() == {INBOUND_STREAM: 0, DEADLETTER_STREAM: 0}

    await world.says(BRUNO, "hola")
    await running.raw_webhooks_of(BRUNO)
    await running.tick_at(RETENTION + timedelta(days=1))
    assert not await running.known(BRUNO)
    assert await running.messages() == {INBOUND_STREAM: 1, DEADLETTER_STREAM: 0}
    assert [r["jetstream_messages_removed"] for r in await running.forgotten()] == [2, 1]


async def test_a_customer_who_came_back_before_the_tick_is_not_forgotten(running: Running) -> None:
    world = running.world
    await world.says(CAMILA, "hola, se me rompió la cañería, estoy en ñuñoa")
    await world.says(CAMILA, "cancelar")
    await running.closer.catch_up()  # the index holds her retention timer ...
    world.now = T0 + RETENTION + timedelta(hours=1)
    await world.says(CAMILA, "hola de nuevo, necesito un gasfiter en ñuñoa")  # ... and she writes first
    [dropped] = await running.closer.tick()
    assert dropped.startswith(f"forget-retention:{await world.privacy.people.find(CAMILA)}:")
    assert await running.known(CAMILA)  # the job was dropped, not run
    assert await running.forgotten() == []
