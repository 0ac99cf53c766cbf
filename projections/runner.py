"""The live projections: one durable subscription per projection, rows and checkpoint in one transaction.

Exactly-once effects come from the event store's ``Subscription``: the handler writes the rows on the
connection of the transaction that also moves the checkpoint, so a crash at any point either commits both
or neither, and a batch redelivered after a restart finds the checkpoint already past it (the save is
guarded by the previous checkpoint: a stale runner rolls back instead of applying a batch twice).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog

from contracts.events import RecordedEvent
from eventstore import PostgresEventStore, Subscription
from eventstore.pool import AnyConnection
from eventstore.waiting import wait_event
from projections.batch import apply_batch, lock_key
from projections.envelope import decode_recorded
from projections.projector import Projection

log = structlog.get_logger("projections")

# A rebuild holds this projection's lock exclusively; live batches take it shared, so they wait (without
# having written anything, hence without holding back the global order) until the rebuild is done.
_LOCK_SHARED = "SELECT pg_advisory_xact_lock_shared($1)"

FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0


class ProjectionRunner:
    def __init__(
        self,
        store: PostgresEventStore,
        projection: Projection,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        listen: bool = True,
    ) -> None:
        self.store = store
        self.projection = projection
        self._lock = lock_key(projection)
        self._types = projection.event_types
        self.subscription: Subscription = store.subscribe(
            projection.consumer, self.handle, batch_size=batch_size, poll_interval=poll_interval, listen=listen
        )

    async def handle(self, conn: AnyConnection, events: Sequence[RecordedEvent]) -> None:
        await conn.execute(_LOCK_SHARED, self._lock)
        await apply_batch(conn, self.projection, decode_recorded(events, self._types))

    async def run(self) -> None:
        """Follow the store until cancelled; an error propagates (the batch rolled back, nothing is lost)."""
        await self.subscription.run()

    async def run_until(self, stopping: asyncio.Event) -> None:
        """Follow the store until ``stopping`` is set, restarting with a growing pause after an error.

        A failing batch (a bug, a database hiccup) must not stop the other projections nor the pipeline:
        it is retried from the checkpoint, and the lag metric shows the projection falling behind.
        """
        backoff = FIRST_BACKOFF
        while not stopping.is_set():
            task = asyncio.create_task(self.run(), name=self.projection.consumer)
            stop = asyncio.create_task(stopping.wait())
            try:
                await asyncio.wait([task, stop], return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
                if not task.done():
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if task.cancelled() or stopping.is_set():
                return
            error = task.exception()
            # Never the message of a database error: it may quote row values (phones).
            log.error(
                "projection_failed",
                projection=self.projection.name,
                error=type(error).__name__,
                checkpoint=self.subscription.checkpoint.global_position,
                retry_in=backoff,
            )
            await wait_event(stopping, backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
