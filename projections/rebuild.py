"""Rebuild projections from zero: empty their tables and checkpoints, then replay the whole store.

Rows and checkpoints commit together every few thousand events, in short transactions, never in one long
one: a writing transaction left open would hold back every gap-safe reader of the store (the sender, the
orchestrator's technician directory) until it ends. While a rebuild runs it holds each of its projections'
advisory locks, so the live runner of that projection waits and then, finding its checkpoint moved,
resumes after the rebuild. The result is the same rows the live projection would have: same projectors,
same events, same order.

For speed the rebuild reads compact rows (the store's ``read_all_compact``, not ``RecordedEvent``s), and
decodes only the event types its projections read, straight from the JSON text into the event model
(pydantic parses it without building Python dicts first).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from tqdm import tqdm

from contracts.events import decode_event, event_types
from eventstore import Checkpoint, CompactEvent, PostgresEventStore, save_checkpoint
from eventstore.pool import AnyConnection
from infra.gc_tuning import REBUILD_THRESHOLDS, collecting_less
from projections.batch import lock_key
from projections.envelope import EventContext, Item
from projections.projector import Projection, Projector, Routed, RowsWhere, route_all

DEFAULT_BATCH = 5000
#: Events folded between two commits: fewer, larger transactions rewrite a busy row (a conversation) less often.
DEFAULT_FLUSH = 20_000
#: Rows kept in memory; past this the cache is dropped (after its rows are written) and refilled on demand.
DEFAULT_CACHED_ROWS = 200_000

@dataclass(frozen=True)
class RebuildResult:
    projections: tuple[str, ...]
    events: int
    rows_written: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")


def decode_rows(records: Sequence[CompactEvent], types: frozenset[str]) -> list[Item]:
    classes = event_types()
    items: list[Item] = []
    for type_, schema_version, data, recorded_at, stream_id, version, position, _ in records:
        if type_ not in types or data is None:  # data is sent for exactly the types asked for
            continue
        cls = classes.get(type_)
        if cls is not None and schema_version == cls.SCHEMA_VERSION:
            event = cls.model_validate_json(data)
        else:  # an older version to upcast (or an unknown type: decode_event says so)
            event = decode_event(type_, schema_version, orjson.loads(data))
        items.append((event, EventContext(stream_id, version, position, datetime.fromisoformat(recorded_at))))
    return items


async def _reset(conn: AnyConnection, projections: Sequence[Projection]) -> None:
    async with conn.transaction():
        for projection in projections:
            for table in projection.tables:
                await table.truncate(conn)
            await conn.execute("DELETE FROM checkpoints WHERE consumer = $1", projection.consumer)


Rows = dict[Projector[Any, Any], dict[Any, Any]]


class _Rebuild:
    """One pass over the store for a set of projections, on a connection that holds their locks.

    Three things overlap: the reader fetches the next batch, Python folds the current one, and the rows of
    the previous flush are being written. Rows live in a cache meanwhile: the tables start empty and nothing
    else writes them (the locks), so the cache is the truth and no row is read back until the cache has
    grown too big and was dropped (then a missing row is loaded, after the pending write has committed).
    """

    def __init__(self, conn: AnyConnection, projections: Sequence[Projection], flush_every: int, max_cached: int):
        self.conn = conn
        self.projections = projections
        self.projectors = [projector for projection in projections for projector in projection.projectors]
        self.flush_every = flush_every
        self.max_cached = max_cached
        self.cache: Rows = {p: {} for p in self.projectors}
        self.dirty: Rows = {p: {} for p in self.projectors}
        self.complete = True  # the cache holds every row of the tables
        self.writing: asyncio.Task[int] | None = None
        self.written = Checkpoint.START
        self.unflushed = 0
        self.rows_written = 0

    async def settle(self) -> None:
        task, self.writing = self.writing, None
        if task is not None:
            self.rows_written += await task

    async def fold(self, items: Sequence[Item], checkpoint: Checkpoint, count: int) -> None:
        for projector, routed in route_all(self.projectors, items).items():
            if not routed:
                continue
            rows = self.cache[projector]
            if not self.complete:
                await self._load_missing(projector, rows, routed)
            changed = projector.fold_routed(rows, routed)
            rows.update(changed)
            self.dirty[projector].update(changed)
        self.unflushed += count
        if self.unflushed >= self.flush_every:
            await self.flush(checkpoint, wait=False)

    async def _load_missing(self, projector: Projector[Any, Any], rows: dict[Any, Any], routed: list[Routed]) -> None:
        """Read back the rows the cache dropped that ``routed`` touches (keyed, or matched by a selection)."""
        selections = {key for key, _, _ in routed if key.__class__ is RowsWhere}
        missing = {key for key, _, _ in routed if key.__class__ is not RowsWhere and key not in rows}
        if not missing and not selections:
            return
        await self.settle()  # what we read back must have been written first
        rows.update(await projector.table.load(self.conn, missing))
        for where in selections:
            for key, row in (await projector.table.load_where(self.conn, where)).items():
                rows.setdefault(key, row)  # a cached row is newer than its stored copy

    async def flush(self, checkpoint: Checkpoint, *, wait: bool) -> None:
        await self.settle()
        if checkpoint != self.written:
            dirty, previous = self.dirty, self.written
            self.dirty, self.written, self.unflushed = {p: {} for p in self.projectors}, checkpoint, 0
            self.writing = asyncio.create_task(_write(self.conn, self.projections, dirty, checkpoint, previous))
        if sum(len(rows) for rows in self.cache.values()) > self.max_cached:
            self.cache, self.complete = {p: {} for p in self.projectors}, False
        if wait:
            await self.settle()

    async def abandon(self) -> None:
        if self.writing is not None and not self.writing.done():
            self.writing.cancel()
        with contextlib.suppress(asyncio.CancelledError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await self.settle()


async def _write(
    conn: AnyConnection, projections: Sequence[Projection], dirty: Rows, checkpoint: Checkpoint, previous: Checkpoint
) -> int:
    """One transaction: the rows changed since the last write, and every projection's checkpoint."""
    written = 0
    async with conn.transaction():
        for projector, rows in dirty.items():
            written += await projector.table.upsert(conn, rows.values())
        for projection in projections:
            await save_checkpoint(conn, projection.consumer, checkpoint, expected=previous)
    return written


async def rebuild(
    store: PostgresEventStore,
    projections: Sequence[Projection],
    *,
    batch_size: int = DEFAULT_BATCH,
    flush_every: int = DEFAULT_FLUSH,
    max_cached_rows: int = DEFAULT_CACHED_ROWS,
    progress: bool = True,
) -> RebuildResult:
    """Rebuild ``projections`` from zero in one pass over the store (each event decoded once for all).

    The projectors are the live runner's own; only the I/O around them differs.
    """
    types = frozenset().union(*(p.event_types for p in projections))
    type_list = sorted(types)
    locks = sorted({lock_key(p) for p in projections})  # always the same order: two rebuilds cannot deadlock
    started = time.perf_counter()
    events = 0
    async with store.pool.acquire() as conn:
        for key in locks:
            await conn.execute("SELECT pg_advisory_lock($1)", key)
        work = _Rebuild(conn, projections, flush_every, max_cached_rows)
        reading: asyncio.Future[list[CompactEvent]] | None = None
        try:
            await _reset(conn, projections)
            total = await store.count()
            checkpoint = Checkpoint.START
            with collecting_less(REBUILD_THRESHOLDS), tqdm(
                total=total, unit="ev", unit_scale=True, disable=not progress,
                desc=f"rebuild {', '.join(p.name for p in projections)}",
            ) as bar:  # fmt: skip
                reading = asyncio.ensure_future(store.read_all_compact(checkpoint, batch_size, type_list))
                while True:
                    batch = await reading
                    if not batch:
                        if not await store.has_pending(checkpoint):
                            break
                        await asyncio.sleep(0.01)  # an older transaction is still open: wait for it to end
                        reading = asyncio.ensure_future(store.read_all_compact(checkpoint, batch_size, type_list))
                        continue
                    checkpoint = Checkpoint(batch[-1][7], batch[-1][6])
                    reading = asyncio.ensure_future(store.read_all_compact(checkpoint, batch_size, type_list))
                    await work.fold(decode_rows(batch, types), checkpoint, len(batch))
                    events += len(batch)
                    bar.update(len(batch))
                reading = None
                await work.flush(checkpoint, wait=True)
        finally:
            if reading is not None and not reading.done():
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    await reading
            await work.abandon()
            for key in reversed(locks):
                await conn.execute("SELECT pg_advisory_unlock($1)", key)
    return RebuildResult(tuple(p.name for p in projections), events, work.rows_written, time.perf_counter() - started)
