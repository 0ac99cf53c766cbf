"""The live projections against a real PostgreSQL: rows and checkpoint commit together or not at all, a
batch is never applied twice, and a runner stopped anywhere resumes to the same rows."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import pytest

from bench.bench_projections import Synthetic
from eventstore import Checkpoint, CheckpointConflict, PostgresEventStore, load_checkpoint, save_checkpoint
from infra.settings import Settings
from projections.batch import lock_key
from projections.catalog import PROJECTIONS
from projections.lag import measure, measure_all
from projections.rebuild import rebuild
from projections.runner import ProjectionRunner
from projections.service import build
from tests.conftest import Infra
from tests.integration.projections_support import (
    CATCH_UP_TIMEOUT,
    eventually,
    live,
    project,
    snapshot,
    synthetic_conversations,
    wait_until_caught_up,
)
from tests.integration.wakeup_support import woken_process

pytestmark = pytest.mark.integration


class Boom(Exception):
    pass


async def test_a_live_projection_applies_every_event_and_checkpoints_the_last_one(store: PostgresEventStore) -> None:
    await synthetic_conversations(store, 600)
    await project(store)
    last = await store.pool.fetchrow(
        "SELECT transaction_id, global_position FROM events ORDER BY transaction_id DESC, global_position DESC LIMIT 1"
    )
    assert last is not None
    for projection in PROJECTIONS.values():
        assert await load_checkpoint(store.pool, projection.consumer) == Checkpoint(last[0], last[1])
    counts = {t: await store.pool.fetchval(f"SELECT count(*) FROM {t}") for t in (
        "read_models.leads", "read_models.conversations", "read_models.technicians",
        "read_models.outbound_messages", "read_models.delivery_statuses", "read_models.daily_counters",
    )}  # fmt: skip
    assert all(count > 0 for count in counts.values()), counts


async def test_a_batch_that_fails_leaves_neither_rows_nor_checkpoint(store: PostgresEventStore) -> None:
    await synthetic_conversations(store, 200)
    runner = ProjectionRunner(store, PROJECTIONS["leads"], listen=False)
    original = runner.handle

    async def write_then_fail(conn, events):  # type: ignore[no-untyped-def]
        await original(conn, events)
        assert await conn.fetchval("SELECT count(*) FROM read_models.leads") > 0  # the rows were written ...
        raise Boom

    runner.subscription.handlers[runner.projection.consumer] = write_then_fail
    with pytest.raises(Boom):
        await runner.run()
    # ... and rolled back with the checkpoint.
    assert await store.pool.fetchval("SELECT count(*) FROM read_models.leads") == 0
    assert await load_checkpoint(store.pool, "projection-leads") == Checkpoint.START


async def test_a_batch_delivered_again_to_a_stale_runner_is_not_applied_twice(store: PostgresEventStore) -> None:
    await synthetic_conversations(store, 300)
    projection = PROJECTIONS["daily_counters"]
    await project(store, [projection])
    before = await snapshot(store, [projection])
    runner = ProjectionRunner(store, projection)
    everything = await store.read_all(Checkpoint.START, limit=10_000)
    # A runner that still believes it is at the start gets the whole log again: its transaction must not commit.
    with pytest.raises(CheckpointConflict):
        async with store.pool.acquire() as conn, conn.transaction():
            await runner.handle(conn, everything)
            await save_checkpoint(conn, projection.consumer, Checkpoint.of(everything[-1]), expected=Checkpoint.START)
    assert await snapshot(store, [projection]) == before


def one_moved(runners: list[ProjectionRunner], before: dict[str, Checkpoint]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return any(r.checkpoint > before[r.projection.name] for r in runners)

    return check


async def test_a_projection_stopped_at_any_point_resumes_to_the_same_rows(store: PostgresEventStore) -> None:
    total = await synthetic_conversations(store, 800)
    stops = 0
    while (await measure(store, PROJECTIONS["conversations"])).events > 0 and stops < 1000:
        # Small batches; every runner is stopped as soon as one of them has committed a batch more.
        before = {p.name: await load_checkpoint(store.pool, p.consumer) for p in PROJECTIONS.values()}
        async with live(store, batch_size=37, listen=False, poll_interval=0.05) as runners:
            await eventually(one_moved(runners, before), "a runner committing a batch")
        stops += 1
    await project(store)
    resumed = await snapshot(store)
    await rebuild(store, list(PROJECTIONS.values()), progress=False)
    assert stops > 1 and total > 700
    assert await snapshot(store) == resumed


async def test_a_live_projection_waits_while_its_rebuild_holds_the_lock_and_then_carries_on(
    store: PostgresEventStore,
) -> None:
    projection = PROJECTIONS["leads"]
    await synthetic_conversations(store, 300)
    async with store.pool.acquire() as rebuilding:
        await rebuilding.execute("SELECT pg_advisory_lock($1)", lock_key(projection))
        async with live(store, [projection]):
            # The runner's batch is blocked on the lock (seen in pg_locks), not running.
            async def waiting() -> bool:
                return bool(await store.pool.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)"
                ))  # fmt: skip

            await eventually(waiting, "the live batch waiting for the rebuild's lock")
            assert await store.pool.fetchval("SELECT count(*) FROM read_models.leads") == 0
            await rebuilding.execute("SELECT pg_advisory_unlock($1)", lock_key(projection))
            await wait_until_caught_up(store, [projection])
    assert await store.pool.fetchval("SELECT count(*) FROM read_models.leads") > 0


async def test_a_rebuild_while_the_live_projection_runs_ends_with_the_same_rows(store: PostgresEventStore) -> None:
    synthetic = Synthetic(seed=1)
    await synthetic_conversations(store, 400, synthetic)
    async with live(store):
        await wait_until_caught_up(store, PROJECTIONS.values())
        await rebuild(store, list(PROJECTIONS.values()), progress=False)
        await synthetic_conversations(store, 300, synthetic)  # the live runners carry on after the rebuild
        await wait_until_caught_up(store, PROJECTIONS.values())
        live_rows = await snapshot(store)
    await rebuild(store, list(PROJECTIONS.values()), progress=False)
    assert await snapshot(store) == live_rows


async def test_lag_counts_the_events_not_yet_applied_and_how_long_the_oldest_has_waited(
    store: PostgresEventStore,
) -> None:
    appended = await synthetic_conversations(store, 100)
    lag = await measure(store, PROJECTIONS["leads"])
    assert lag.events == appended and lag.seconds >= 0 and lag.checkpoint_position == 0
    await project(store, [PROJECTIONS["leads"]])
    lag = await measure(store, PROJECTIONS["leads"])
    assert (lag.events, lag.seconds) == (0, 0.0)


async def test_the_lags_of_all_projections_at_once_are_each_projections_own(store: PostgresEventStore) -> None:
    appended = await synthetic_conversations(store, 100)
    await project(store, [PROJECTIONS["leads"], PROJECTIONS["conversations"]])  # the others stay behind

    lags = await measure_all(store, PROJECTIONS.values())
    one_by_one = [await measure(store, projection) for projection in PROJECTIONS.values()]
    assert [(lag.projection, lag.events, lag.checkpoint_position) for lag in lags] == [
        (lag.projection, lag.events, lag.checkpoint_position) for lag in one_by_one
    ]  # the seconds go on counting between the two
    assert {lag.events for lag in lags} == {0, appended}


async def test_the_projections_service_takes_no_wake_ups_and_projects_what_it_polls(
    read_models_database: str, infra: Infra
) -> None:
    async with AsyncExitStack() as stack:
        writer, _ = await woken_process(stack, read_models_database, infra.nats_url, "orchestrator")
        store, nc = await woken_process(stack, read_models_database, infra.nats_url, "projections")
        service = await stack.enter_async_context(build(Settings(database_url=read_models_database), store=store))
        stopping = asyncio.Event()
        running = asyncio.create_task(service.run(stopping))
        stack.push_async_callback(asyncio.wait_for, running, CATCH_UP_TIMEOUT)
        stack.callback(stopping.set)
        heard = nc.stats["in_msgs"]

        await synthetic_conversations(writer, 40)
        await wait_until_caught_up(writer, PROJECTIONS.values())
        await nc.flush()  # a round trip: an announcement routed to it before would have arrived
        assert nc.stats["in_msgs"] == heard
