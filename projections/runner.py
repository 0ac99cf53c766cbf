"""The live projections: one reader of the global order for all of them, rows and checkpoints in one
transaction per batch.

Exactly-once effects come from the event store's ``SubscriptionGroup``: each projection's rows are written
on the connection of the transaction that also moves its checkpoint, so a crash at any point either
commits both or neither, and a batch redelivered after a restart finds the checkpoints already past it
(the save is guarded by the previous checkpoints: a stale runner rolls back instead of applying a batch
twice). Each projection keeps a checkpoint of its own, so one can be rebuilt while the others run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection, Sequence

import structlog

from contracts.events import RecordedEvent
from eventstore import PostgresEventStore, Selection, SubscriptionGroup
from eventstore.pool import AnyConnection
from eventstore.store import Checkpoint
from eventstore.subscription import BatchHandler
from eventstore.waiting import wait_event
from infra import pipeline_metrics as metrics
from projections.batch import apply_batch, lock_key
from projections.envelope import decode_recorded
from projections.projector import Projection

log = structlog.get_logger("projections")

# A rebuild holds its projections' locks exclusively; live batches take them shared, so they wait (without
# having written anything, hence without holding back the global order) until the rebuild is done.
_LOCK_SHARED = "SELECT pg_advisory_xact_lock_shared(key) FROM unnest($1::bigint[]) AS key"

#: A batch gathers the commits of this long: read models trail by about that much, and a process reads the
#: global order (and writes its checkpoints) at most this often instead of once per commit.
BATCH_WINDOW = 0.25

FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0


class ProjectionRunner:
    """Runs ``projections`` (one or several) live, as one subscription group."""

    def __init__(
        self,
        store: PostgresEventStore,
        projections: Projection | Sequence[Projection],
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        listen: bool = True,
        min_interval: float = BATCH_WINDOW,
        after_batch: Callable[[Sequence[RecordedEvent]], None] | None = None,
        after_batch_types: Collection[str] = (),
    ) -> None:
        self.store = store
        #: Called with every batch once its rows are written (e.g. to drop the keys of people it forgot); it
        #: sees the events of ``after_batch_types`` besides the projections' own.
        self.after_batch = after_batch
        self.projections = [projections] if isinstance(projections, Projection) else list(projections)
        types = frozenset(after_batch_types).union(*(p.event_types for p in self.projections))
        self._locks = sorted({lock_key(p) for p in self.projections})  # the rebuild's order: no deadlock
        self.subscription = SubscriptionGroup(
            store,
            {p.consumer: self._handler(p) for p in self.projections},
            batch_size=batch_size, poll_interval=poll_interval, listen=listen, min_interval=min_interval,
            wake_on=types, prepare=self._lock, only=Selection.of_types(types),
        )  # fmt: skip

    @property
    def projection(self) -> Projection:
        """The projection of a runner of one."""
        [projection] = self.projections
        return projection

    @property
    def name(self) -> str:
        return ", ".join(p.name for p in self.projections)

    @property
    def checkpoint(self) -> Checkpoint:
        """The lowest checkpoint of the runner's projections."""
        return min(self.subscription.checkpoints.values())

    async def _lock(self, conn: AnyConnection) -> None:
        await conn.execute(_LOCK_SHARED, self._locks)

    def _handler(self, projection: Projection) -> BatchHandler:
        types = projection.event_types

        async def handle(conn: AnyConnection, events: Sequence[RecordedEvent]) -> None:
            with metrics.STEP_SECONDS.labels("project").time():
                await apply_batch(conn, projection, decode_recorded(events, types))
            metrics.PROJECTED_EVENTS.labels(projection.name).inc(len(events))
            if self.after_batch is not None:
                self.after_batch(events)

        return handle

    async def handle(self, conn: AnyConnection, events: Sequence[RecordedEvent]) -> None:
        """Apply ``events`` to a runner of one projection, in the caller's transaction (locks included)."""
        await self._lock(conn)
        await self._handler(self.projection)(conn, events)

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
            task = asyncio.create_task(self.run(), name=f"projections {self.name}")
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
                projection=self.name,
                error=type(error).__name__,
                checkpoint=self.checkpoint.global_position,
                retry_in=backoff,
            )
            await wait_event(stopping, backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
