"""Gap safety under real concurrency: transactions that commit late never slip past a subscriber.

Many writers append over separate connections inside explicit transactions that sleep a random while
(some before their first write, so they hold an early transaction id; all after it, so they commit late with
a global position lower than events already committed by others). A durable subscription follows the
global order meanwhile. It must record every event exactly once, and each stream in version order.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import defaultdict
from collections.abc import Sequence

import pytest

from contracts.events import RecordedEvent
from eventstore import ANY_VERSION, ConcurrencyError, PostgresEventStore, create_pool
from eventstore.pool import AnyConnection
from tests.eventstore_contract import eventually, notes

pytestmark = pytest.mark.integration

WRITERS = 12
APPENDS_PER_WRITER = 25
STREAMS = 20
MAX_SLEEP = 0.02  # seconds a transaction may stay open: enough to reorder commits, cheap in total


@pytest.mark.parametrize("seed", [7, 1234, 99991])
async def test_a_subscriber_sees_every_event_once_and_each_stream_in_order_despite_late_commits(
    migrated_database: str, seed: int
) -> None:
    rng = random.Random(seed)
    streams = [f"job-{i}" for i in range(STREAMS)]
    store = await PostgresEventStore.connect(migrated_database, min_size=2, max_size=6)
    writers_pool = await create_pool(migrated_database, min_size=WRITERS, max_size=WRITERS)
    await store.pool.execute("CREATE TABLE seen (event_id uuid, stream_id text, stream_version int)")
    delivered: list[RecordedEvent] = []

    async def record(conn: AnyConnection, batch: Sequence[RecordedEvent]) -> None:
        await conn.executemany(
            "INSERT INTO seen VALUES ($1, $2, $3)", [(e.event_id, e.stream_id, e.stream_version) for e in batch]
        )
        delivered.extend(batch)  # only used to show that positions did arrive out of order

    async def writer(number: int) -> None:
        wrng = random.Random(rng.random())
        async with writers_pool.acquire() as conn:
            for n in range(APPENDS_PER_WRITER):
                stream_id = wrng.choice(streams)
                events = notes(*(f"{number}-{n}-{k}" for k in range(wrng.randint(1, 3))))
                inbox_id = f"msg-{number}-{n}"
                while True:
                    expected = await store.stream_version(stream_id)
                    try:
                        async with conn.transaction():
                            if wrng.random() < 0.5:  # take a transaction id now, write later
                                await conn.execute("SELECT pg_current_xact_id(), pg_sleep($1)",
                                                   wrng.uniform(0, MAX_SLEEP))
                            await store.append(stream_id, expected, events, inbox_id=inbox_id, connection=conn)
                            await conn.execute("SELECT pg_sleep($1)", wrng.uniform(0, MAX_SLEEP))
                        break
                    except ConcurrencyError:
                        await asyncio.sleep(wrng.uniform(0, 0.005))
                if wrng.random() < 0.1:  # the broker redelivers: must commit nothing
                    again = await store.append(stream_id, ANY_VERSION, notes("dup"), inbox_id=inbox_id)
                    assert again.already_handled

    subscription = store.subscribe("gap-check", record, batch_size=50, poll_interval=0.2)
    following = asyncio.create_task(subscription.run())
    try:
        await asyncio.gather(*(writer(w) for w in range(WRITERS)))
        # Appended after every writer committed, so it comes last in the global order: once the subscriber
        # has recorded it, it has delivered everything it ever will before it, twice or not.
        await store.append("sentinel", 0, notes("last"))
        total = int(await store.pool.fetchval("SELECT count(*) FROM events"))

        async def sentinel_seen() -> bool:
            return bool(await store.pool.fetchval("SELECT count(*) FROM seen WHERE stream_id = 'sentinel'"))

        await eventually(sentinel_seen)
    finally:
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
    stored = await store.pool.fetch("SELECT event_id, stream_id, stream_version FROM events")
    seen = await store.pool.fetch("SELECT event_id, stream_id, stream_version FROM seen")
    await writers_pool.close()
    await store.close()

    assert sorted(row["event_id"] for row in seen) == sorted(row["event_id"] for row in stored)
    assert len({row["event_id"] for row in seen}) == len(seen) == total
    versions_seen: dict[str, list[int]] = defaultdict(list)
    for event in delivered:
        versions_seen[event.stream_id].append(event.stream_version)
    for stream_id, versions in versions_seen.items():
        assert versions == list(range(1, len(versions) + 1)), stream_id
    assert total == sum(len(v) for v in versions_seen.values())
    # The hazard was real: a reader trusting global positions alone would have skipped these.
    positions = [event.global_position for event in delivered]
    late = sum(1 for i in range(1, len(positions)) if positions[i] < max(positions[:i]))
    assert late > 0



async def test_concurrent_redeliveries_of_one_message_commit_once_and_never_look_like_conflicts(
    migrated_database: str,
) -> None:
    store = await PostgresEventStore.connect(migrated_database, min_size=6, max_size=6)
    try:
        for attempt in range(20):
            stream_id = f"lead-{attempt}"
            outcomes = await asyncio.gather(*(
                store.append(stream_id, 0, notes("hola"), inbox_id=f"wamid.{attempt}") for _ in range(6)
            ), return_exceptions=True)

            assert [type(o).__name__ for o in outcomes] == ["AppendResult"] * 6, outcomes
            assert sorted(o.already_handled for o in outcomes if not isinstance(o, BaseException)) == [
                False, True, True, True, True, True
            ]
            assert await store.stream_version(stream_id) == 1
    finally:
        await store.close()
