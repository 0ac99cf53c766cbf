"""An in-memory event store with the PostgreSQL store's contract, for fast unit tests.

Same outcomes for the same calls: version conflicts, idempotent inbox appends (checked before the
version), duplicate event ids, the (transaction_id, global_position) order. Data and metadata go through a
JSON round trip, as they would through jsonb, so a test cannot pass here with something PostgreSQL would
store differently. Every append is its own "transaction" and commits at once, so there are no gaps.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import AsyncGenerator, Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from contracts.events import NewEvent, RecordedEvent
from eventstore.checkpoint import CheckpointConflict
from eventstore.filtered import FilteredRow, OrderFilter
from eventstore.selection import Selection
from eventstore.store import (
    ANY_VERSION,
    AppendResult,
    Behind,
    Checkpoint,
    CompactEvent,
    ConcurrencyError,
    DuplicateEventError,
    OrderPage,
    SubscriptionHandler,
)
from eventstore.waiting import wait_event


def _through_json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


class InMemoryEventStore:
    """The :class:`eventstore.store.EventStore` in a process's memory."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock  # "now" for :meth:`behind`; an event was recorded at its metadata's recorded_at
        self._checkpoints: dict[str, Checkpoint] = {}
        self._events: list[RecordedEvent] = []
        self._streams: dict[str, list[RecordedEvent]] = {}
        self._event_ids: set[Any] = set()
        self._inbox: dict[str, int] = {}
        self._last_transaction_id = 0
        self._waiters: set[asyncio.Event] = set()  # one per follower, set by every append

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        inbox_id: str | None = None,
    ) -> AppendResult:
        if expected_version < ANY_VERSION:
            raise ValueError(f"expected_version must be >= 0 or ANY_VERSION, not {expected_version}")
        # No await between the checks and the writes: appends are atomic in one event loop.
        if inbox_id is not None and inbox_id in self._inbox:
            return AppendResult(stream_id, self._inbox[inbox_id], already_handled=True)
        stream = self._streams.get(stream_id, [])
        current = len(stream)
        if expected_version != ANY_VERSION and expected_version != current:
            raise ConcurrencyError(stream_id, expected_version, current)
        new_ids = [event.event_id for event in events]
        if len(set(new_ids)) != len(new_ids) or self._event_ids.intersection(new_ids):
            raise DuplicateEventError(stream_id)

        recorded: list[RecordedEvent] = []
        if events:
            self._last_transaction_id += 1
            for offset, event in enumerate(events, start=1):
                recorded.append(
                    RecordedEvent(
                        event_id=event.event_id,
                        stream_id=stream_id,
                        stream_version=current + offset,
                        type=event.type,
                        schema_version=event.schema_version,
                        data=_through_json(event.data),
                        metadata=_through_json(event.metadata.model_dump(mode="json")),
                        global_position=len(self._events) + offset,
                        transaction_id=self._last_transaction_id,
                    )
                )
        self._events.extend(recorded)
        self._streams.setdefault(stream_id, []).extend(recorded)
        self._event_ids.update(new_ids)
        version = current + len(recorded)
        if inbox_id is not None:
            self._inbox[inbox_id] = version
        if recorded:
            for waiter in self._waiters:
                waiter.set()
            return AppendResult(stream_id, version, Checkpoint.of(recorded[-1]))
        return AppendResult(stream_id, version)

    async def read_stream(
        self, stream_id: str, from_version: int = 1, limit: int | None = None
    ) -> list[RecordedEvent]:
        start = max(from_version, 1) - 1
        return list(self._streams.get(stream_id, [])[start : None if limit is None else start + limit])

    async def read_streams(
        self, stream_ids: Collection[str], *, types: Collection[str] | None = None
    ) -> dict[str, list[RecordedEvent]]:
        streams = {
            stream_id: [e for e in self._streams.get(stream_id, []) if types is None or e.type in types]
            for stream_id in stream_ids
        }
        return {stream_id: events for stream_id, events in streams.items() if events}

    async def stream_version(self, stream_id: str) -> int:
        return len(self._streams.get(stream_id, []))

    async def is_handled(self, inbox_id: str) -> bool:
        return inbox_id in self._inbox

    async def read_all(self, after: Checkpoint = Checkpoint.START, limit: int = 1000) -> list[RecordedEvent]:
        # Transaction ids and positions grow together here, so the list is sorted by checkpoint.
        start = bisect.bisect_right(self._events, after, key=Checkpoint.of)
        return self._events[start : start + limit]

    async def read_all_compact(
        self, after: Checkpoint, limit: int, decode_types: Collection[str]
    ) -> list[CompactEvent]:
        return [
            CompactEvent(
                e.type, e.schema_version, orjson.dumps(e.data).decode() if e.type in decode_types else None,
                e.metadata.model_dump(mode="json")["recorded_at"], e.stream_id, e.stream_version, e.global_position,
                e.transaction_id,
            )
            for e in await self.read_all(after, limit)
        ]  # fmt: skip

    async def read_order(self, after: Checkpoint, limit: int, only: Selection | None = None) -> OrderPage:
        events = await self.read_all(after, limit)
        until = Checkpoint.of(events[-1]) if events else after
        selected = events if only is None else [event for event in events if only.matches(event)]
        return OrderPage(selected, False, until, len(events) == limit)

    async def has_pending(self, after: Checkpoint) -> bool:
        return False  # every append commits at once: nothing is ever waiting to become final

    async def horizon(self) -> int:
        return self._last_transaction_id + 1

    async def count(self, below: int | None = None) -> int:
        return sum(1 for e in self._events if below is None or e.transaction_id < below)

    async def behind(self, after: Checkpoint, max_counted: int) -> Behind:
        waiting = await self.read_all(after, max_counted)
        if not waiting:
            return Behind(0, 0.0)
        oldest = min(e.metadata.recorded_at for e in waiting)
        return Behind(len(waiting), max((self._clock() - oldest).total_seconds(), 0.0))

    async def read_filtered(
        self, query: OrderFilter, after: tuple[int, int], horizon: int, limit: int
    ) -> list[FilteredRow]:
        rows: list[FilteredRow] = []
        for event in await self.read_all(Checkpoint(*after), len(self._events)):
            if event.transaction_id >= horizon or len(rows) == limit:
                break
            if query.receives(event):
                rows.append(query.row(event))
        return rows

    async def count_filtered(self, query: OrderFilter, horizon: int) -> tuple[int, int]:
        final = [e for e in self._events if e.transaction_id < horizon]
        return sum(1 for e in final if query.owns(e.stream_id) and query.kept(e)), len(final)

    async def load_checkpoint(self, consumer: str) -> Checkpoint:
        return self._checkpoints.get(consumer, Checkpoint.START)

    async def load_checkpoints(self, consumers: Sequence[str]) -> dict[str, Checkpoint]:
        return {consumer: self._checkpoints.get(consumer, Checkpoint.START) for consumer in consumers}

    def subscribe(
        self, consumer: str, handler: SubscriptionHandler, *, batch_size: int = 500, poll_interval: float = 1.0
    ) -> InMemorySubscription:
        return InMemorySubscription(self, consumer, handler, batch_size=batch_size, poll_interval=poll_interval)

    def _move_checkpoint(self, consumer: str, expected: Checkpoint, new: Checkpoint) -> None:
        if self._checkpoints.get(consumer, Checkpoint.START) != expected:
            raise CheckpointConflict(consumer, expected)
        self._checkpoints[consumer] = new

    async def follow(
        self,
        after: Checkpoint = Checkpoint.START,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        min_interval: float = 0.0,
        wake_on: Collection[str] | None = None,
        only: Selection | None = None,
    ) -> AsyncGenerator[list[RecordedEvent], None]:
        # Every append wakes a follower here, whatever ``wake_on`` says: it only ever changes when to look.
        loop = asyncio.get_running_loop()
        checkpoint = after
        appended = asyncio.Event()
        self._waiters.add(appended)
        last_read = -min_interval
        try:
            while True:
                if (wait := last_read + min_interval - loop.time()) > 0:
                    await asyncio.sleep(wait)
                appended.clear()
                last_read = loop.time()
                batch = await self.read_all(checkpoint, batch_size)
                if batch:
                    checkpoint = Checkpoint.of(batch[-1])
                    selected = batch if only is None else [event for event in batch if only.matches(event)]
                    if selected:
                        yield selected
                    continue
                await wait_event(appended, poll_interval)
        finally:
            self._waiters.discard(appended)


class InMemorySubscription:
    """The in-memory twin of :class:`eventstore.subscription.Subscription`: the handler gets ``None`` as its
    transaction; the checkpoint moves only after the handler returned, and only if it was still the one
    the batch started from."""

    def __init__(
        self,
        store: InMemoryEventStore,
        name: str,
        handler: SubscriptionHandler,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
    ) -> None:
        self.store = store
        self.name = name
        self.handler = handler
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.checkpoint = Checkpoint.START

    async def run(self) -> None:
        while True:
            self.checkpoint = await self.store.load_checkpoint(self.name)
            batches = self.store.follow(self.checkpoint, batch_size=self.batch_size, poll_interval=self.poll_interval)
            try:
                async for batch in batches:
                    await self.handler(None, batch)
                    new = Checkpoint.of(batch[-1])
                    self.store._move_checkpoint(self.name, self.checkpoint, new)
                    self.checkpoint = new
            except CheckpointConflict:
                pass  # another runner of this consumer moved on: start again from where it is
            finally:
                await batches.aclose()
