"""The event store contract: one suite, run against every implementation.

Subclass :class:`EventStoreContract` in a ``Test...`` class that provides a ``store`` fixture; see
``tests/unit/test_eventstore_memory.py`` and ``tests/integration/test_eventstore_postgres.py``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from contracts.events import Event, EventMetadata, NewEvent, RecordedEvent, register_upcaster
from eventstore import (
    ANY_VERSION,
    NO_STREAM,
    Checkpoint,
    ConcurrencyError,
    DuplicateEventError,
    EventStore,
)

# A guard against a hang, not a performance assertion.
HANG_GUARD = 10.0


async def eventually(condition: Callable[[], Awaitable[bool]]) -> None:
    """Wait until ``condition`` holds; the guard only stops a hang, it measures nothing."""
    async with asyncio.timeout(HANG_GUARD):
        while True:
            if await condition():
                return
            await asyncio.sleep(0.01)


class ContractNoteTaken(Event):
    TYPE: ClassVar[str] = "ContractNoteTaken"
    text: str


class ContractTechnicianRated(Event):
    """Version 2 split v1's "stars_and_comment" ("4|good") into two fields."""

    TYPE: ClassVar[str] = "ContractTechnicianRated"
    SCHEMA_VERSION: ClassVar[int] = 2
    stars: int
    comment: str


@register_upcaster("ContractTechnicianRated", 1)
def _rated_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    stars, _, comment = data["stars_and_comment"].partition("|")
    return {"stars": int(stars), "comment": comment}


def metadata(correlation_id: str = "wamid.test", **extra: Any) -> EventMetadata:
    return EventMetadata(
        correlation_id=correlation_id, recorded_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), **extra
    )


def note(text: str = "hola") -> NewEvent:
    return NewEvent.from_event(ContractNoteTaken(text=text), event_id=uuid.uuid4(), metadata=metadata())


def notes(*texts: str) -> list[NewEvent]:
    return [note(text) for text in texts]


def texts(events: list[RecordedEvent]) -> list[str]:
    return [event.data["text"] for event in events]


def stream() -> str:
    return f"lead-{uuid.uuid4().hex[:8]}"


class EventStoreContract:
    """Behaviour every :class:`eventstore.EventStore` shows. Subclasses provide the ``store`` fixture."""

    # ---- append and read a stream ----

    async def test_a_new_stream_has_version_zero_and_no_events(self, store: EventStore) -> None:
        assert await store.stream_version("lead-nobody") == 0
        assert await store.read_stream("lead-nobody") == []

    async def test_appended_events_are_read_back_in_version_order_with_their_envelope(
        self, store: EventStore
    ) -> None:
        s = stream()
        new = notes("a", "b", "c")
        result = await store.append(s, NO_STREAM, new)

        assert result.stream_version == 3
        assert not result.already_handled
        events = await store.read_stream(s)
        assert [e.stream_version for e in events] == [1, 2, 3]
        assert [e.event_id for e in events] == [e.event_id for e in new]
        assert texts(events) == ["a", "b", "c"]
        assert {e.stream_id for e in events} == {s}
        assert {e.type for e in events} == {"ContractNoteTaken"}
        assert events[0].metadata == new[0].metadata
        assert events[0].global_position < events[1].global_position < events[2].global_position
        assert result.checkpoint == Checkpoint.of(events[-1])

    async def test_later_appends_continue_the_stream_from_the_version_the_writer_saw(
        self, store: EventStore
    ) -> None:
        s = stream()
        await store.append(s, NO_STREAM, notes("a", "b"))
        result = await store.append(s, 2, notes("c"))

        assert result.stream_version == 3
        assert await store.stream_version(s) == 3
        assert texts(await store.read_stream(s, from_version=2)) == ["b", "c"]

    async def test_metadata_keeps_its_causation_trace_and_extra_fields(self, store: EventStore) -> None:
        s = stream()
        meta = metadata("wamid.1", causation_id="cmd-9", trace_id="trace-7", source="rules")
        await store.append(s, NO_STREAM, [NewEvent.from_event(ContractNoteTaken(text="x"),
                                                              event_id=uuid.uuid4(), metadata=meta)])

        [event] = await store.read_stream(s)
        assert event.metadata == meta
        assert event.metadata.model_extra == {"source": "rules"}

    async def test_unicode_and_nested_data_round_trip_unchanged(self, store: EventStore) -> None:
        s = stream()
        data = {"text": "se rompió la cañería en Ñuñoa", "items": [1, 2.5, None, True], "nested": {"a": {}}}
        await store.append(s, NO_STREAM, [NewEvent(event_id=uuid.uuid4(), type="ContractRawData", data=data,
                                                   metadata=metadata())])

        [event] = await store.read_stream(s)
        assert event.data == data

    # ---- optimistic concurrency ----

    async def test_appending_with_a_stale_version_raises_a_typed_conflict_and_writes_nothing(
        self, store: EventStore
    ) -> None:
        s = stream()
        await store.append(s, NO_STREAM, notes("a", "b"))

        with pytest.raises(ConcurrencyError) as raised:
            await store.append(s, 1, notes("late"))

        assert (raised.value.stream_id, raised.value.expected, raised.value.actual) == (s, 1, 2)
        assert texts(await store.read_stream(s)) == ["a", "b"]

    async def test_appending_to_a_new_stream_as_if_it_existed_is_a_conflict(self, store: EventStore) -> None:
        s = stream()
        with pytest.raises(ConcurrencyError) as raised:
            await store.append(s, 4, notes("a"))
        assert raised.value.actual == 0
        assert await store.stream_version(s) == 0

    async def test_of_two_writers_that_saw_the_same_version_exactly_one_wins(self, store: EventStore) -> None:
        s = stream()
        await store.append(s, NO_STREAM, notes("a"))

        outcomes = await asyncio.gather(
            store.append(s, 1, notes("first")), store.append(s, 1, notes("second")), return_exceptions=True
        )

        assert sorted(type(o).__name__ for o in outcomes) == ["AppendResult", "ConcurrencyError"]
        assert await store.stream_version(s) == 2

    async def test_any_version_appends_after_whatever_the_stream_holds(self, store: EventStore) -> None:
        s = stream()
        await store.append(s, ANY_VERSION, notes("a"))
        await store.append(s, ANY_VERSION, notes("b", "c"))

        assert texts(await store.read_stream(s)) == ["a", "b", "c"]

    async def test_an_event_id_can_be_stored_only_once(self, store: EventStore) -> None:
        event = note("once")
        await store.append(stream(), NO_STREAM, [event])

        other = stream()
        with pytest.raises(DuplicateEventError):
            await store.append(other, NO_STREAM, [event])
        assert await store.stream_version(other) == 0

    # ---- idempotent appends (inbox) ----

    async def test_a_second_append_with_the_same_inbox_id_commits_nothing_and_says_so(
        self, store: EventStore
    ) -> None:
        s = stream()
        first = await store.append(s, NO_STREAM, notes("a", "b"), inbox_id="wamid.A")
        again = await store.append(s, NO_STREAM, notes("a", "b"), inbox_id="wamid.A")

        assert not first.already_handled
        assert again.already_handled
        assert again.stream_version == first.stream_version == 2
        assert again.checkpoint is None
        assert texts(await store.read_stream(s)) == ["a", "b"]

    async def test_a_redelivered_message_is_reported_handled_even_after_the_stream_moved_on(
        self, store: EventStore
    ) -> None:
        s = stream()
        await store.append(s, NO_STREAM, notes("a"), inbox_id="wamid.B")
        await store.append(s, 1, notes("b"), inbox_id="wamid.C")

        again = await store.append(s, 1, notes("a again"), inbox_id="wamid.B")

        assert again.already_handled
        assert again.stream_version == 1
        assert await store.stream_version(s) == 2

    async def test_a_rejected_append_does_not_mark_its_inbox_id_handled(self, store: EventStore) -> None:
        s = stream()
        await store.append(s, NO_STREAM, notes("a"))

        with pytest.raises(ConcurrencyError):
            await store.append(s, NO_STREAM, notes("b"), inbox_id="wamid.D")
        assert not await store.is_handled("wamid.D")

        retried = await store.append(s, 1, notes("b"), inbox_id="wamid.D")
        assert not retried.already_handled
        assert await store.is_handled("wamid.D")

    async def test_a_message_can_be_marked_handled_without_writing_events(self, store: EventStore) -> None:
        s = stream()
        result = await store.append(s, NO_STREAM, [], inbox_id="wamid.E")

        assert not result.already_handled
        assert result.checkpoint is None
        assert await store.is_handled("wamid.E")
        assert (await store.append(s, NO_STREAM, notes("x"), inbox_id="wamid.E")).already_handled
        assert await store.stream_version(s) == 0

    async def test_the_same_message_appended_twice_at_once_commits_once(self, store: EventStore) -> None:
        s = stream()
        outcomes = await asyncio.gather(
            store.append(s, NO_STREAM, notes("a"), inbox_id="wamid.F"),
            store.append(s, NO_STREAM, notes("a"), inbox_id="wamid.F"),
        )

        assert sorted(o.already_handled for o in outcomes) == [False, True]
        assert await store.stream_version(s) == 1

    # ---- the global order ----

    async def test_read_all_returns_every_stream_in_global_order(self, store: EventStore) -> None:
        start = await self._end_of_log(store)
        s1, s2 = stream(), stream()
        await store.append(s1, NO_STREAM, notes("1a", "1b"))
        await store.append(s2, NO_STREAM, notes("2a"))
        await store.append(s1, 2, notes("1c"))

        events = await store.read_all(start)

        assert texts(events) == ["1a", "1b", "2a", "1c"]
        assert [Checkpoint.of(e) for e in events] == sorted(Checkpoint.of(e) for e in events)

    async def test_paging_read_all_by_checkpoint_returns_each_event_once(self, store: EventStore) -> None:
        start = await self._end_of_log(store)
        for i in range(7):
            await store.append(stream(), NO_STREAM, notes(f"e{i}a", f"e{i}b"))

        seen: list[str] = []
        checkpoint = start
        while page := await store.read_all(checkpoint, limit=3):
            assert len(page) <= 3
            seen += texts(page)
            checkpoint = Checkpoint.of(page[-1])

        assert seen == [f"e{i}{x}" for i in range(7) for x in "ab"]
        assert await store.read_all(checkpoint) == []

    async def test_follow_yields_events_appended_after_it_started_waiting(self, store: EventStore) -> None:
        start = await self._end_of_log(store)
        batches = store.follow(start, poll_interval=0.05)
        s = stream()

        async def first_batch() -> list[RecordedEvent]:
            return await anext(batches)

        waiting = asyncio.create_task(first_batch())
        await asyncio.sleep(0.05)
        await store.append(s, NO_STREAM, notes("late"))
        try:
            batch = await asyncio.wait_for(waiting, HANG_GUARD)
        finally:
            await batches.aclose()

        assert texts(batch) == ["late"]

    async def test_follow_with_a_minimum_interval_reads_appends_together_and_misses_none(
        self, store: EventStore
    ) -> None:
        start = await self._end_of_log(store)
        s = stream()
        await store.append(s, NO_STREAM, notes("first"))
        batches = store.follow(start, poll_interval=0.05, min_interval=0.3)
        try:
            first = await asyncio.wait_for(anext(batches), HANG_GUARD)
            read_at = asyncio.get_running_loop().time()
            for n in range(5):  # each append would wake a follower without a minimum interval
                await store.append(s, n + 1, notes(f"next{n}"))
            second = await asyncio.wait_for(anext(batches), HANG_GUARD)
            waited = asyncio.get_running_loop().time() - read_at
        finally:
            await batches.aclose()

        assert texts(first) == ["first"]
        assert texts(second) == [f"next{n}" for n in range(5)]  # one read, nothing missed
        assert waited >= 0.25

    # ---- upcasting ----

    async def test_old_event_versions_are_upcast_on_read_and_never_rewritten(self, store: EventStore) -> None:
        s = stream()
        old = NewEvent(event_id=uuid.uuid4(), type="ContractTechnicianRated", schema_version=1,
                       data={"stars_and_comment": "4|llegó a la hora"}, metadata=metadata())
        current = NewEvent.from_event(ContractTechnicianRated(stars=5, comment="bien"),
                                      event_id=uuid.uuid4(), metadata=metadata())
        await store.append(s, NO_STREAM, [old, current])

        stored_old, stored_current = await store.read_stream(s)

        assert stored_old.schema_version == 1
        assert stored_old.data == {"stars_and_comment": "4|llegó a la hora"}
        assert stored_old.to_event() == ContractTechnicianRated(stars=4, comment="llegó a la hora")
        assert stored_current.schema_version == 2
        assert stored_current.to_event() == ContractTechnicianRated(stars=5, comment="bien")

    # ---- helpers ----

    @staticmethod
    async def _end_of_log(store: EventStore) -> Checkpoint:
        """Where the log ends now: stores may be shared by several tests."""
        checkpoint = Checkpoint.START
        while page := await store.read_all(checkpoint, limit=10_000):
            checkpoint = Checkpoint.of(page[-1])
        return checkpoint
