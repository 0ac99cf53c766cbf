"""Following the global order on PostgreSQL: woken by NOTIFY or the store's announcements, polling as the fallback.

:func:`follow` yields batches forever from a checkpoint held by the caller. :class:`Subscription` is the
durable, exactly-once-effects variant: it keeps its checkpoint in the ``checkpoints`` table and calls the
handler inside a transaction in which it also writes the checkpoint, so the handler's own writes and the
consumer's progress commit together. :class:`SubscriptionGroup` does the same for several consumers of
one process with one reader and one transaction per batch.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING

import structlog

from contracts.events import RecordedEvent
from eventstore.checkpoint import CheckpointConflict, load_checkpoints, save_checkpoints
from eventstore.pool import AnyConnection
from eventstore.selection import Selection
from eventstore.store import Checkpoint, OrderPage

if TYPE_CHECKING:
    from eventstore.postgres import PostgresEventStore

log = structlog.get_logger(__name__)

# The handler of a Subscription: runs inside the transaction that will also store the checkpoint.
BatchHandler = Callable[[AnyConnection, Sequence[RecordedEvent]], Awaitable[None]]

# When committed events wait behind an older, still open transaction, look again after this long,
# doubling up to the poll interval (at most _LAST_RETRY): that transaction may not NOTIFY when it ends
# (it may not be ours).
_FIRST_RETRY = 0.005
_LAST_RETRY = 1.0


async def follow(
    store: PostgresEventStore,
    after: Checkpoint = Checkpoint.START,
    *,
    batch_size: int = 500,
    poll_interval: float = 1.0,
    listen: bool = True,
    min_interval: float = 0.0,
    wake_on: Collection[str] | None = None,
    only: Selection | None = None,
) -> AsyncGenerator[list[RecordedEvent], None]:
    """Batches of events after ``after`` in gap-safe global order, forever (see :func:`follow_pages`)."""
    pages = follow_pages(
        store, after,
        batch_size=batch_size, poll_interval=poll_interval, listen=listen, min_interval=min_interval,
        wake_on=wake_on, only=only,
    )  # fmt: skip
    async with contextlib.aclosing(pages):
        async for page in pages:
            if page.events:
                yield page.events


async def follow_pages(
    store: PostgresEventStore,
    after: Checkpoint = Checkpoint.START,
    *,
    batch_size: int = 500,
    poll_interval: float = 1.0,
    listen: bool = True,
    min_interval: float = 0.0,
    wake_on: Collection[str] | None = None,
    only: Selection | None = None,
) -> AsyncGenerator[OrderPage, None]:
    """Each read of the global order after ``after`` that moved on, in gap-safe order, forever: its events
    (with ``only``, the selected ones, possibly none) and where it ended (``OrderPage.until``).

    With ``listen`` a notification (:meth:`PostgresEventStore.wakeup`) wakes the reader at once; without it
    (or when the LISTEN connection is lost) it reads every ``poll_interval`` seconds. ``min_interval``: never
    read again sooner than that after the previous read — under a steady stream of appends, a follower that
    may trail by that much reads fewer, larger batches instead of one or two queries per append. ``wake_on``:
    only appends of these event types wake the reader at once; the others are read at the next poll (the
    batches still hold every event: the types only decide when to look). ``only``: a page holds only the selected events
    (``eventstore.selection``; the others are skipped in the database), its ``until`` moves past all.
    """
    loop = asyncio.get_running_loop()
    wakeup = store.wakeup(wake_on)
    checkpoint = after
    retry = _FIRST_RETRY
    last_read = -min_interval
    try:
        while True:
            if listen:
                await wakeup.ensure()
            if (wait := last_read + min_interval - loop.time()) > 0:
                await asyncio.sleep(wait)
            # Cleared before reading: a notification that arrives during the read is not lost.
            wakeup.event.clear()
            last_read = loop.time()
            page = await store.read_order(checkpoint, batch_size, only)
            if page.until != checkpoint:
                retry = _FIRST_RETRY
                checkpoint = page.until
                yield page
            if page.more:
                continue  # more may be there already
            # A short batch was all that was committed below the horizon: no second read to learn so.
            # What came meanwhile woke us (the event was cleared before the read); what waits behind an
            # older open transaction came back with the read as ``pending``.
            if page.pending:
                await asyncio.sleep(retry)
                retry = min(retry * 2, poll_interval, _LAST_RETRY)
                continue
            retry = _FIRST_RETRY
            # Counted from the read's start, as min_interval is: a follower that polls (no wake-ups) at its
            # batch window reads once per window, not once per window plus the time its batch took.
            await wakeup.wait(max(0.0, last_read + poll_interval - loop.time()))
    finally:
        await wakeup.close()


class SubscriptionGroup:
    """Named consumers of the global order that share one reader, and one transaction per batch.

    ``run()`` loads every member's checkpoint and follows the global order from the lowest of them. For each
    batch it opens one transaction, runs ``prepare(conn)`` (e.g. taking locks), calls each member's
    ``handler(conn, events)`` with the events after that member's own checkpoint, and moves every checkpoint
    in one statement, guarded by the checkpoints the batch started from: effects and progress of all
    members commit together or not at all. If a handler raises, the transaction rolls back and the error
    propagates (the owner decides whether to restart; the batch will be delivered again). Another runner
    of a member that moved its checkpoint makes this batch roll back; the group then reloads and goes on.

    One reader per process instead of one per consumer: one read of the global order, one transaction and
    one checkpoint write per batch, whatever the number of members. ``min_interval`` lets a batch gather
    the commits of a few milliseconds instead of waking on each one.
    """

    def __init__(
        self,
        store: PostgresEventStore,
        handlers: Mapping[str, BatchHandler],
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        listen: bool = True,
        min_interval: float = 0.0,
        wake_on: Collection[str] | None = None,
        prepare: Callable[[AnyConnection], Awaitable[None]] | None = None,
        only: Selection | None = None,
    ) -> None:
        if not handlers:
            raise ValueError("a subscription group needs at least one member")
        self.store = store
        self.handlers = dict(handlers)
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.listen = listen
        self.min_interval = min_interval
        self.wake_on = wake_on
        self.prepare = prepare
        #: Members receive only these events (a member's checkpoint moves only with a batch of them).
        self.only = only
        self.checkpoints = dict.fromkeys(self.handlers, Checkpoint.START)

    async def run(self) -> None:
        """Follow the global order until cancelled."""
        while True:
            self.checkpoints = await load_checkpoints(self.store.pool, list(self.handlers))
            pages = follow_pages(
                self.store,
                min(self.checkpoints.values()),
                batch_size=self.batch_size,
                poll_interval=self.poll_interval,
                listen=self.listen,
                min_interval=self.min_interval,
                wake_on=self.wake_on,
                only=self.only,
            )
            async with contextlib.aclosing(pages):
                try:
                    async for page in pages:
                        await self._handle(page.events, page.until)
                except CheckpointConflict:
                    log.info("eventstore_checkpoint_moved", consumer=", ".join(self.handlers))

    async def _handle(self, batch: Sequence[RecordedEvent], new: Checkpoint) -> None:
        """Hand ``batch`` (events up to ``new``; with a selection, maybe none) to each member behind ``new``."""
        first = Checkpoint.of(batch[0]) if batch else new
        moves: list[tuple[str, Checkpoint, Checkpoint]] = []
        async with self.store.pool.acquire() as conn, conn.transaction():
            if self.prepare is not None:
                await self.prepare(conn)
            for name, handler in self.handlers.items():
                since = self.checkpoints[name]
                if since >= new:
                    continue  # this member is already past the batch (it was further on at the start)
                start = 0 if since < first else bisect.bisect_right(batch, since, key=Checkpoint.of)
                if start < len(batch):
                    await handler(conn, batch[start:] if start else batch)
                moves.append((name, new, since))
            await save_checkpoints(conn, moves)
        for name, _, _ in moves:
            self.checkpoints[name] = new


class Subscription(SubscriptionGroup):
    """One named consumer of the global order whose progress commits with its effects (a group of one)."""

    def __init__(
        self,
        store: PostgresEventStore,
        name: str,
        handler: BatchHandler,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        listen: bool = True,
        min_interval: float = 0.0,
        wake_on: Collection[str] | None = None,
        only: Selection | None = None,
    ) -> None:
        super().__init__(
            store, {name: handler},
            batch_size=batch_size, poll_interval=poll_interval, listen=listen, min_interval=min_interval,
            wake_on=wake_on, only=only,
        )  # fmt: skip
        self.name = name

    @property
    def handler(self) -> BatchHandler:
        return self.handlers[self.name]

    @handler.setter
    def handler(self, handler: BatchHandler) -> None:
        self.handlers[self.name] = handler

    @property
    def checkpoint(self) -> Checkpoint:
        return self.checkpoints[self.name]
