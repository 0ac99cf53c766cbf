"""Event store throughput against a bare INSERT into a table with the same columns, in the same run.

    python -m bench.bench_eventstore            # embedded PostgreSQL in a temporary folder
    DATABASE_URL=postgresql://... python -m bench.bench_eventstore   # a scratch database on that server

Absolute rates drift 20-35 % between runs on the same machine (DESIGN.md), so every workload alternates the
event store and the bare baseline round by round and reports medians and the median per-round ratio.
Targets (issue "Foundation"): single appends >= 0.6 of the bare INSERT; read_all >= 50,000 events/s.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from contracts.events import EventMetadata, NewEvent
from eventstore import Checkpoint, PostgresEventStore, apply_migrations, create_pool
from infra.gc_tuning import tune_for_service

ROUNDS = 5
SINGLE_APPENDS_1 = 600
SINGLE_APPENDS_8 = 2400
BATCHES = 20
BATCH_SIZE = 100
READ_PAGE = 1000
EVENTS_PER_STREAM = 10  # appends continue existing streams, as conversations do

# The baseline: the same columns and defaults, no trigger, only the primary key, one statement per row.
BARE_TABLE = """
CREATE TABLE bare_events (
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id text NOT NULL, stream_version integer NOT NULL, event_id uuid NOT NULL, type text NOT NULL,
    schema_version integer NOT NULL, data jsonb NOT NULL, metadata jsonb NOT NULL,
    transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(), recorded_at timestamptz NOT NULL DEFAULT now()
)
"""
BARE_INSERT = """
INSERT INTO bare_events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""
# The read baseline is DESIGN.md's reference figure (~50,000 rows/s on an idle machine): pages of 1,000
# rows whose jsonb is decoded with the standard json module. read_all does more (orjson, then validated
# RecordedEvent models), so a ratio >= 1 means read_all meets the 50,000 events/s target whatever the load
# on the machine during the run.
BARE_READ = """
SELECT event_id, stream_id, stream_version, type, schema_version, data::text, metadata::text, global_position,
       transaction_id
FROM bare_events WHERE global_position > $1 ORDER BY global_position LIMIT $2
"""

DATA = {
    "text": "hola, se me rompió la cañería del baño y está saliendo agua, estoy en ñuñoa",
    "service": "Gasfiteria",
    "comuna": "Ñuñoa",
    "urgency": "hoy",
    "confidence": 0.93,
}


def new_event() -> NewEvent:
    metadata = EventMetadata(
        correlation_id=f"wamid.{uuid.uuid4().hex}",
        causation_id=None,
        trace_id=uuid.uuid4().hex,
        recorded_at=datetime.now(UTC),
    )
    return NewEvent(event_id=uuid.uuid4(), type="MessageReceived", data=DATA, metadata=metadata)


@dataclass
class Workload:
    name: str
    unit: str
    eventstore: Callable[[int], Awaitable[int]]  # round number -> events done
    bare: Callable[[int], Awaitable[int]]


class Bench:
    def __init__(self, store: PostgresEventStore, pool: asyncpg.Pool[Any]) -> None:
        self.store = store
        self.pool = pool

    # ---- writes ----

    async def _writers(self, count: int, writers: int, job: Callable[[int, int], Awaitable[None]]) -> int:
        per_writer = count // writers

        async def writer(w: int) -> None:
            for i in range(per_writer):
                await job(w, i)

        await asyncio.gather(*(writer(w) for w in range(writers)))
        return per_writer * writers

    def single_appends(self, count: int, writers: int) -> tuple[Callable[[int], Awaitable[int]], ...]:
        async def eventstore(round_: int) -> int:
            events = [[new_event()] for _ in range(count)]

            async def job(w: int, i: int) -> None:
                stream_id = f"s{writers}-{round_}-{w}-{i // EVENTS_PER_STREAM}"
                await self.store.append(stream_id, i % EVENTS_PER_STREAM, events[w * (count // writers) + i])

            return await self._writers(count, writers, job)

        async def bare(round_: int) -> int:
            events = [new_event() for _ in range(count)]

            async def job(w: int, i: int) -> None:
                e = events[w * (count // writers) + i]
                await self.pool.execute(
                    BARE_INSERT,
                    f"s{writers}-{round_}-{w}-{i // EVENTS_PER_STREAM}",
                    i % EVENTS_PER_STREAM + 1,
                    e.event_id,
                    e.type,
                    e.schema_version,
                    e.data,
                    e.metadata.model_dump(mode="json"),
                )

            return await self._writers(count, writers, job)

        return eventstore, bare

    def batch_appends(self) -> tuple[Callable[[int], Awaitable[int]], ...]:
        async def eventstore(round_: int) -> int:
            batches = [[new_event() for _ in range(BATCH_SIZE)] for _ in range(BATCHES)]
            for i, batch in enumerate(batches):
                await self.store.append(f"b-{round_}-{i}", 0, batch)
            return BATCHES * BATCH_SIZE

        async def bare(round_: int) -> int:
            batches = [[new_event() for _ in range(BATCH_SIZE)] for _ in range(BATCHES)]
            for i, batch in enumerate(batches):
                rows = [
                    (
                        f"b-{round_}-{i}",
                        v,
                        e.event_id,
                        e.type,
                        e.schema_version,
                        e.data,
                        e.metadata.model_dump(mode="json"),
                    )
                    for v, e in enumerate(batch, start=1)
                ]
                async with self.pool.acquire() as conn, conn.transaction():
                    await conn.executemany(BARE_INSERT, rows)
            return BATCHES * BATCH_SIZE

        return eventstore, bare

    # ---- reads ----

    async def read_all(self, _: int) -> int:
        done, checkpoint = 0, Checkpoint.START
        while page := await self.store.read_all(checkpoint, READ_PAGE):
            done += len(page)
            checkpoint = Checkpoint.of(page[-1])
        return done

    async def bare_read(self, _: int) -> int:
        done, position = 0, 0
        while page := await self.pool.fetch(BARE_READ, position, READ_PAGE):
            decoded = [(json.loads(row[5]), json.loads(row[6])) for row in page]
            done += len(decoded)
            position = page[-1]["global_position"]
        return done


async def measure(job: Callable[[int], Awaitable[int]], round_: int) -> float:
    start = time.perf_counter()
    done = await job(round_)
    return done / (time.perf_counter() - start)


async def run(dsn: str) -> None:
    await apply_migrations(dsn)
    pool = await create_pool(dsn, min_size=8, max_size=8)
    await pool.execute(BARE_TABLE)
    store = PostgresEventStore(pool)
    bench = Bench(store, pool)
    es1, bare1 = bench.single_appends(SINGLE_APPENDS_1, 1)
    es8, bare8 = bench.single_appends(SINGLE_APPENDS_8, 8)
    esb, bareb = bench.batch_appends()
    workloads = [
        Workload("single-event append, 1 writer", "appends/s", es1, bare1),
        Workload("single-event append, 8 writers", "appends/s", es8, bare8),
        Workload(f"{BATCH_SIZE} events per append, 1 writer", "events/s", esb, bareb),
        Workload(f"read_all, pages of {READ_PAGE}", "events/s", bench.read_all, bench.bare_read),
    ]
    # Warm up: prepared statements, plpgsql plan, codecs.
    for w in workloads[:3]:
        await w.eventstore(-1)
        await w.bare(-1)
    print(f"{'workload':<38} {'eventstore':>20} {'bare baseline':>14} {'ratio':>7}", flush=True)
    for w in workloads:
        ours: list[float] = []
        theirs: list[float] = []
        for round_ in range(ROUNDS):
            ours.append(await measure(w.eventstore, round_))
            theirs.append(await measure(w.bare, round_))
        ratio = statistics.median(o / t for o, t in zip(ours, theirs, strict=True))
        print(
            f"{w.name:<38} {statistics.median(ours):>10,.0f} {w.unit:<9}"
            f"{statistics.median(theirs):>10,.0f} {ratio:>7.2f}",
            flush=True,
        )
    total = await pool.fetchval("SELECT count(*) FROM events")
    print(
        f"medians of {ROUNDS} alternating rounds. Baselines: INSERT of the same columns into a table with only a\n"
        "primary key, autocommit per row / one transaction per 100 rows (executemany); for reads, SELECT of the\n"
        f"same rows decoded with the json module (DESIGN.md's ~50,000/s). read_all went over {total:,} events.\n"
        "Targets: single appends ratio >= 0.6; read_all >= 50,000 events/s (ratio >= 1 against its baseline).",
        flush=True,
    )
    await pool.close()


async def with_scratch_database(server_dsn: str) -> None:
    """A database of our own on that server: benchmark events can't be deleted from an events table."""
    name = f"bench_eventstore_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    head, _, _ = server_dsn.rpartition("/")
    try:
        await run(f"{head}/{name}")
    finally:
        admin = await asyncpg.connect(server_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def on_postgres(bench: Callable[[str], Coroutine[Any, Any, None]], name: str) -> None:
    """Run ``bench`` on ``DATABASE_URL``, or on an embedded PostgreSQL started for it, as every service runs."""
    tune_for_service()  # as every service runs (conectapro run)
    dsn = os.environ.get("DATABASE_URL")
    if dsn:
        asyncio.run(bench(dsn))
        return
    from infra.embedded import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "postgres")
        try:
            server = pg.start()
            print(f"embedded PostgreSQL on port {pg.port} (synchronous_commit=on)", file=sys.stderr)
            asyncio.run(bench(server))
        finally:
            pg.stop()


def main() -> None:
    on_postgres(with_scratch_database, "eventstore")


if __name__ == "__main__":
    main()
