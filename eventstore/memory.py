"""An in-memory event store with the PostgreSQL store's contract, for fast unit tests.

Same outcomes for the same calls: version conflicts, idempotent inbox appends (checked before the
version), duplicate event ids, the (transaction_id, global_position) order. Data and metadata go through a
JSON round trip, as they would through jsonb, so a test cannot pass here with something PostgreSQL would
store differently. Every append is its own "transaction" and commits at once, so there are no gaps.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import orjson

from contracts.events import NewEvent, RecordedEvent
from eventstore.store import (
    ANY_VERSION,
    AppendResult,
    Checkpoint,
    ConcurrencyError,
    DuplicateEventError,
)
from eventstore.waiting import wait_event


def _through_json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


class InMemoryEventStore:
    """The :class:`eventstore.store.EventStore` in a process's memory."""

    def __init__(self) -> None:
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

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[RecordedEvent]:
        return list(self._streams.get(stream_id, [])[max(from_version, 1) - 1 :])

    async def stream_version(self, stream_id: str) -> int:
        return len(self._streams.get(stream_id, []))

    async def is_handled(self, inbox_id: str) -> bool:
        return inbox_id in self._inbox

    async def read_all(self, after: Checkpoint = Checkpoint.START, limit: int = 1000) -> list[RecordedEvent]:
        # Transaction ids and positions grow together here, so the list is sorted by checkpoint.
        start = bisect.bisect_right(self._events, after, key=Checkpoint.of)
        return self._events[start : start + limit]

    async def follow(
        self,
        after: Checkpoint = Checkpoint.START,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        min_interval: float = 0.0,
    ) -> AsyncGenerator[list[RecordedEvent], None]:
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
                    yield batch
                    continue
                await wait_event(appended, poll_interval)
        finally:
            self._waiters.discard(appended)
