"""`conectapro run projections`: every live projection, until the runtime stops."""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog

from eventstore import PostgresEventStore, apply_migrations
from infra.runtime import Runtime
from projections.catalog import PROJECTIONS
from projections.runner import ProjectionRunner

log = structlog.get_logger("projections")

SQL_DIR = Path(__file__).parent / "sql"


async def migrate(database_url: str) -> list[str]:
    """The event store's migrations and the read models' (idempotent, safe to race)."""
    return await apply_migrations(database_url, extra_dirs=[SQL_DIR])


async def serve(runtime: Runtime) -> None:
    await migrate(runtime.database_url)
    # Each subscription holds a LISTEN connection and borrows one to read and one to apply a batch.
    store = await PostgresEventStore.connect(runtime.database_url, min_size=2, max_size=3 * len(PROJECTIONS) + 2)
    try:
        runners = [ProjectionRunner(store, projection) for projection in PROJECTIONS.values()]
        log.info("projections_running", projections=list(PROJECTIONS))
        await asyncio.gather(*(runner.run_until(runtime.stopping) for runner in runners))
    finally:
        await store.close()
