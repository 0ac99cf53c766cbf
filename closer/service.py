"""`conectapro run closer`: the timers worker (see ``closer.worker``)."""

from __future__ import annotations

import structlog

from closer.settings import CloserSettings
from closer.timers import CLOSER_SQL_DIR
from closer.worker import Closer, JetStreamCommandPublisher
from eventstore import PostgresEventStore, apply_migrations
from infra.clock import utc_now
from infra.jetstream import connect, ensure_topology
from infra.runtime import Runtime

log = structlog.get_logger("closer")


async def serve(runtime: Runtime) -> None:
    settings = runtime.settings
    closer_settings = CloserSettings()
    # Idempotent: `conectapro run` / `migrate` apply it too; this keeps `run closer` alone working.
    await apply_migrations(runtime.database_url, extra_dirs=[CLOSER_SQL_DIR])
    store = await PostgresEventStore.connect(runtime.database_url, max_size=4)
    nc = await connect(runtime.nats_url, "closer")
    try:
        js = nc.jetstream()
        await ensure_topology(js, inbound_retention_days=settings.inbound_retention_days)
        publisher = JetStreamCommandPublisher(js, partitions=settings.inbound_partitions)
        closer = Closer(store, publisher, closer_settings.durations(), clock=utc_now)
        log.info("closer_running", tick_seconds=closer_settings.tick_seconds)
        await closer.run(runtime.stopping, tick_seconds=closer_settings.tick_seconds)
    finally:
        await nc.drain()
        await store.close()
