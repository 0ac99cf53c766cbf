"""`conectapro run closer`: the timers worker (see ``closer.worker``), the service's bootstrap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from nats.aio.client import Client as NATS

from closer.forgetting import StoreForgetter
from closer.settings import timer_durations
from closer.worker import Closer, JetStreamCommandPublisher
from eventstore import PostgresEventStore
from infra.clock import utc_now
from infra.jetstream import ensure_topology, inbound_stream_config
from infra.runtime import nats_connection
from infra.settings import Settings
from privacy.setup import privacy_of, service_store

log = structlog.get_logger("closer")


@dataclass
class CloserService:
    closer: Closer
    tick_seconds: float

    async def run(self, stopping: asyncio.Event) -> None:
        log.info("closer_running", tick_seconds=self.tick_seconds)
        await self.closer.run(stopping, tick_seconds=self.tick_seconds)


@asynccontextmanager
async def build(
    settings: Settings,
    *,
    store: PostgresEventStore | None = None,
    nats: NATS | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> AsyncIterator[CloserService]:
    async with AsyncExitStack() as stack:
        # No session reset on release: the closer's statements leave no session state behind.
        nc = await nats_connection(stack, settings, nats, name="closer")
        store = await service_store(stack, settings, store, nats=nc, max_size=4, reset_sessions=False)
        js = nc.jetstream()
        await ensure_topology(
            js, inbound_retention_days=settings.inbound_retention_days, replicas=settings.jetstream_replicas
        )
        publisher = JetStreamCommandPublisher(js, partitions=settings.inbound_partitions)
        durations = timer_durations(settings.closer, retention_days=settings.privacy_retention_days)
        privacy = privacy_of(store)
        assert privacy is not None  # service_store protects it
        inbound_kept = timedelta(seconds=inbound_stream_config(settings.inbound_retention_days).max_age or 0)
        forgetter = StoreForgetter(store, privacy, js, durations, clock=clock, inbound_kept=inbound_kept)
        closer = Closer(store, publisher, durations, clock=clock, forgetter=forgetter)
        privacy.signal.on_forgotten(closer.forget_person)
        yield CloserService(closer, settings.closer.tick_seconds)
