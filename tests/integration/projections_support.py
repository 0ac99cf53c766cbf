"""Helpers for the projection and operator API tests against a real PostgreSQL (their fixtures are in
tests/integration/conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from bench.bench_projections import Synthetic, append_all
from contracts.events import Event
from eventstore import ANY_VERSION, PostgresEventStore
from orchestrator.decision_path import to_new_events
from orchestrator.leads_flow import deterministic_ids
from projections.catalog import PROJECTIONS
from projections.lag import measure_all
from projections.projector import Projection
from projections.runner import ProjectionRunner

#: Generous: only a broken projection takes this long, and the test then fails with the lag it saw.
CATCH_UP_TIMEOUT = 60.0


async def synthetic_conversations(store: PostgresEventStore, events: int, synthetic: Synthetic | None = None) -> int:
    """Realistic conversations decided by the real domain (the benchmark's generator), appended in time
    order; returns how many events were appended. Pass the same ``synthetic`` for a second wave."""
    return await append_all(store, (synthetic or Synthetic()).generate(events, technicians=6))


async def record(
    store: PostgresEventStore, stream_id: str, events: Sequence[Event], *, at: datetime, cause: str
) -> None:
    """Append ``events`` as the orchestrator would (envelope, deterministic ids)."""
    new = to_new_events(events, cause=cause, now=at, ids=deterministic_ids(f"{cause}/{stream_id}"))
    await store.append(stream_id, ANY_VERSION, new)


async def eventually(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = CATCH_UP_TIMEOUT) -> None:
    """Wait until ``condition()`` holds (polling); fail with ``what`` if it never does."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await condition():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.005)


async def wait_until_caught_up(store: PostgresEventStore, projections: Iterable[Projection]) -> None:
    chosen = list(projections)
    deadline = asyncio.get_running_loop().time() + CATCH_UP_TIMEOUT
    while True:
        lags = await measure_all(store, chosen)
        if all(lag.events == 0 for lag in lags):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"projections did not catch up: {lags}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def live(
    store: PostgresEventStore, projections: Iterable[Projection] | None = None, **options: Any
) -> AsyncIterator[list[ProjectionRunner]]:
    """The live runners of ``projections`` (all by default), following the store while the block runs."""
    runners = [ProjectionRunner(store, p, **options) for p in (projections or PROJECTIONS.values())]
    tasks = [asyncio.create_task(runner.run()) for runner in runners]
    try:
        yield runners
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)]
        if errors:
            raise errors[0]


async def project(store: PostgresEventStore, projections: Iterable[Projection] | None = None) -> None:
    """Run the live projections until they have applied everything in the store."""
    chosen = list(projections or PROJECTIONS.values())
    async with live(store, chosen):
        await wait_until_caught_up(store, chosen)


Rows = dict[str, list[dict[str, Any]]]


async def snapshot(store: PostgresEventStore, projections: Iterable[Projection] | None = None) -> Rows:
    """Every row of the projections' tables, in key order."""
    rows: Rows = {}
    for projection in projections or PROJECTIONS.values():
        for table in projection.tables:
            records = await store.pool.fetch(f"SELECT * FROM {table.name} ORDER BY {table.key}")
            rows[table.name] = [dict(record) for record in records]
    return rows
