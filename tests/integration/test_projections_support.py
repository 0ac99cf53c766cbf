"""Fixtures and helpers for the projection and operator API tests against a real PostgreSQL.

Import the fixtures you use from here (pytest registers fixtures found in a test module's namespace).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from bench.bench_projections import Synthetic, append_all
from conectapro.migrations import migrate
from contracts.events import Event
from eventstore import ANY_VERSION, PostgresEventStore
from orchestrator.handler import to_new_events
from orchestrator.leads_flow import deterministic_ids
from projections.catalog import PROJECTIONS
from projections.lag import measure_all
from projections.projector import Projection
from projections.runner import ProjectionRunner
from tests.conftest import Infra

#: Generous: only a broken projection takes this long, and the test then fails with the lag it saw.
CATCH_UP_TIMEOUT = 60.0


@pytest.fixture
async def read_models_database(migrated_database: str) -> str:
    """A fresh database with the event store's and the read models' migrations."""
    await migrate(migrated_database)
    return migrated_database


@pytest.fixture
async def store(read_models_database: str) -> AsyncIterator[PostgresEventStore]:
    store = await PostgresEventStore.connect(read_models_database, min_size=2, max_size=16)
    yield store
    await store.close()


#: How many events the seeded database holds (a few dozen conversations, six technicians).
SEEDED_EVENTS = 1500


async def _admin(infra: Infra, sql: str) -> None:
    admin = await asyncpg.connect(infra.pg_dsn)
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


def _dsn(infra: Infra, database: str) -> str:
    return f"{infra.pg_dsn.rpartition('/')[0]}/{database}"


@pytest.fixture(scope="module")
async def seeded_template(infra: Infra) -> AsyncIterator[str]:
    """A database seeded once per module with synthetic conversations, projected: a template to copy."""
    name = f"tpl_{uuid.uuid4().hex[:12]}"
    await _admin(infra, f'CREATE DATABASE "{name}"')
    try:
        await migrate(_dsn(infra, name))
        store = await PostgresEventStore.connect(_dsn(infra, name), min_size=2, max_size=16)
        try:
            await synthetic_conversations(store, SEEDED_EVENTS)
            await project(store)
        finally:
            await store.close()
        yield name
    finally:
        await _admin(infra, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def seeded_database(infra: Infra, seeded_template: str) -> AsyncIterator[str]:
    """A fresh copy of the seeded database (a copy per test: tests may change it)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    await _admin(infra, f'CREATE DATABASE "{name}" TEMPLATE "{seeded_template}"')
    try:
        yield _dsn(infra, name)
    finally:
        await _admin(infra, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def seeded_store(seeded_database: str) -> AsyncIterator[PostgresEventStore]:
    store = await PostgresEventStore.connect(seeded_database, min_size=2, max_size=16)
    yield store
    await store.close()


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
        lags = await measure_all(store.pool, chosen)
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
