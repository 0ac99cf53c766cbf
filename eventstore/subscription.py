"""Following the global order on PostgreSQL: woken by LISTEN/NOTIFY, polling as the fallback.

:func:`follow` yields batches forever from a checkpoint held by the caller. :class:`Subscription` is the
durable, exactly-once-effects variant: it keeps its checkpoint in the ``checkpoints`` table and calls the
handler inside a transaction in which it also writes the checkpoint, so the handler's own writes and the
consumer's progress commit together.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import structlog

from contracts.events import RecordedEvent
from eventstore.checkpoint import CheckpointConflict, load_checkpoint, save_checkpoint
from eventstore.notify import NOTIFY_CHANNEL, Wakeup
from eventstore.pool import AnyConnection
from eventstore.store import Checkpoint

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
) -> AsyncGenerator[list[RecordedEvent], None]:
    """Batches of events after ``after`` in gap-safe global order, forever.

    With ``listen`` a notification wakes the reader at once; without it (or when the LISTEN connection is
    lost) it reads every ``poll_interval`` seconds. ``min_interval``: never read again sooner than that
    after the previous read — under a steady stream of appends, a follower that may trail by that much
    reads fewer, larger batches instead of one or two queries per append.
    """
    loop = asyncio.get_running_loop()
    wakeup = Wakeup(store.pool, NOTIFY_CHANNEL)
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
            batch = await store.read_all(checkpoint, batch_size)
            if batch:
                retry = _FIRST_RETRY
                checkpoint = Checkpoint.of(batch[-1])
                yield batch
                continue
            if await store.has_pending(checkpoint):
                await asyncio.sleep(retry)
                retry = min(retry * 2, poll_interval, _LAST_RETRY)
                continue
            retry = _FIRST_RETRY
            await wakeup.wait(poll_interval)
    finally:
        await wakeup.close()


class Subscription:
    """A named consumer of the global order whose progress commits with its effects.

    ``run()`` loads the stored checkpoint, then for each batch opens a transaction, calls
    ``handler(conn, events)`` and stores the new checkpoint in that same transaction. If the handler raises,
    the transaction rolls back and the error propagates (the runner's owner decides whether to restart:
    the batch will be delivered again). Two runners of the same consumer are safe: the checkpoint is
    written only if it is still the one the batch started from; the loser rolls back and reloads.
    """

    def __init__(
        self,
        store: PostgresEventStore,
        name: str,
        handler: BatchHandler,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        listen: bool = True,
    ) -> None:
        self.store = store
        self.name = name
        self.handler = handler
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.listen = listen
        self.checkpoint = Checkpoint.START

    async def run(self) -> None:
        """Follow the global order until cancelled."""
        while True:
            self.checkpoint = await load_checkpoint(self.store.pool, self.name)
            batches = follow(
                self.store, self.checkpoint,
                batch_size=self.batch_size, poll_interval=self.poll_interval, listen=self.listen,
            )
            async with contextlib.aclosing(batches):
                try:
                    async for batch in batches:
                        await self._handle(batch)
                except CheckpointConflict:
                    log.info("eventstore_checkpoint_moved", consumer=self.name)

    async def _handle(self, batch: Sequence[RecordedEvent]) -> None:
        new = Checkpoint.of(batch[-1])
        async with self.store.pool.acquire() as conn, conn.transaction():
            await self.handler(conn, batch)
            await save_checkpoint(conn, self.name, new, expected=self.checkpoint)
        self.checkpoint = new
