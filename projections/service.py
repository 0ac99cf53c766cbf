"""`conectapro run projections`: every live projection, until the runtime stops (the service's bootstrap)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import structlog
from nats.aio.client import Client as NATS

from conectapro.privacy_requests import KINDS
from contracts.events import RecordedEvent
from contracts.privacy_events import PersonForgotten
from eventstore import PostgresEventStore
from infra.runtime import nats_connection
from infra.settings import Settings
from infra.telemetry import background
from privacy.setup import privacy_of, service_store
from projections.catalog import PROJECTIONS
from projections.privacy_counts import PrivacyRequestCounter
from projections.runner import BATCH_WINDOW, ProjectionRunner

log = structlog.get_logger("projections")


@dataclass
class Projections:
    runner: ProjectionRunner

    async def run(self, stopping: asyncio.Event) -> None:
        log.info("projections_running", projections=[p.name for p in self.runner.projections])
        with background():  # read models belong to no message: their queries start no trace
            await self.runner.run_until(stopping)


@asynccontextmanager
async def build(
    settings: Settings, *, store: PostgresEventStore | None = None, nats: NATS | None = None
) -> AsyncIterator[Projections]:
    async with AsyncExitStack() as stack:
        # A store woken over NATS, as every service's (its one LISTEN connection carries the erasure signal;
        # the reader itself polls); a store given is woken as its owner decided.
        if store is None:
            nats = await nats_connection(stack, settings, nats, name="projections", drain=False)
        # One reader for every projection: one connection to read and one to apply a batch, one to hear
        # erasures. No session reset on release: batches take transaction-level locks only, and the staging
        # tables are meant to stay (created once per connection).
        store = await service_store(stack, settings, store, nats=nats, min_size=2, max_size=4, reset_sessions=False)
        privacy = privacy_of(store)
        counted = PrivacyRequestCounter()

        def after_batch(events: Sequence[RecordedEvent]) -> None:
            if privacy is not None:
                privacy.keyring.drop_forgotten(events)
            counted(events)

        # No wake-ups: under load the reader reads once per window whether woken or not, so it polls at that
        # pace and this process receives no announcement (idle, read models show a change within a window).
        runner = ProjectionRunner(
            store, list(PROJECTIONS.values()), listen=False, poll_interval=BATCH_WINDOW,
            after_batch=after_batch, after_batch_types={PersonForgotten.TYPE, *KINDS},
        )  # fmt: skip
        yield Projections(runner)
