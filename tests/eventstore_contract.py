"""The event store contract: one suite, run against every implementation.

Subclass :class:`EventStoreContract` in a ``Test...`` class that provides a ``store`` fixture; see
``tests/unit/test_eventstore_memory.py`` and ``tests/integration/test_eventstore_postgres.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
import pytest

from contracts.events import Event, EventMetadata, NewEvent, RecordedEvent, register_upcaster
from eventstore import (
    ANY_VERSION,
    NO_STREAM,
    Behind,
    Checkpoint,
    ConcurrencyError,
    DuplicateEventError,
    EventStore,
    OrderFilter,
    Selection,
)
from eventstore.store import Runnable

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


def raw(type_: str, data: dict[str, Any], meta: EventMetadata | None = None) -> NewEvent:
    return NewEvent(event_id=uuid.uuid4(), type=type_, data=data, metadata=meta or metadata())


def async_true(condition: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return condition()

    return check


@contextlib.asynccontextmanager
async def running(runnable: Runnable) -> AsyncIterator[None]:
    """Run ``runnable`` in the background for the block; a failure of it fails the block."""
    task = asyncio.create_task(runnable.run())
    try:
        yield
        if task.done():
            task.result()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


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
        loop = asyncio.get_running_loop()
        read: list[str] = []
        read_times: list[float] = []
        try:
            first = await asyncio.wait_for(anext(batches), HANG_GUARD)
            read_times.append(loop.time())
            for n in range(5):  # each append would wake a follower without a minimum interval
                await store.append(s, n + 1, notes(f"next{n}"))
            # A loaded machine may spread the appends over more than one interval: read until all are in.
            while len(read) < 5:
                read += texts(await asyncio.wait_for(anext(batches), HANG_GUARD))
                read_times.append(loop.time())
        finally:
            await batches.aclose()

        assert texts(first) == ["first"]
        assert read == [f"next{n}" for n in range(5)]  # in order, nothing missed, nothing twice
        assert len(read_times) - 1 < 5  # appends were read together, not one wake-up each
        gaps = [later - earlier for earlier, later in itertools.pairwise(read_times)]
        assert min(gaps) >= 0.25  # never two reads closer than the minimum interval

    async def test_a_selected_read_returns_only_the_selection_and_moves_past_the_rest(self, store: EventStore) -> None:
        start = await self._end_of_log(store)
        s, other = stream(), f"other-{uuid.uuid4().hex[:8]}"
        await store.append(s, NO_STREAM, [*notes("a"), raw("ContractRawData", {"n": 1}), *notes("b")])
        await store.append(other, NO_STREAM, notes("elsewhere"))
        await store.append(s, 3, [raw("ContractRawData", {"n": 2})])
        everything = await store.read_all(start)

        raw_only = await store.read_order(start, 100, Selection.of_types(["ContractRawData"]))
        assert [e.data for e in raw_only.events] == [{"n": 1}, {"n": 2}]
        assert raw_only.until == Checkpoint.of(everything[-1])  # past every event read, selected or not
        assert not raw_only.more
        by_stream = await store.read_order(start, 100, Selection(stream_prefix="other-"))
        assert texts(by_stream.events) == ["elsewhere"]
        assert by_stream.until == raw_only.until
        first_two = await store.read_order(start, 2, Selection.of_types(["ContractRawData"]))
        assert [e.data for e in first_two.events] == [{"n": 1}]
        assert first_two.more and first_two.until == Checkpoint.of(everything[1])
        assert (await store.read_order(raw_only.until, 100, Selection(stream_prefix="other-"))).events == []

    async def test_a_selective_follower_gets_only_the_selection_and_misses_none(self, store: EventStore) -> None:
        start = await self._end_of_log(store)
        s = stream()
        batches = store.follow(start, batch_size=2, poll_interval=0.05, only=Selection.of_types(["ContractRawData"]))
        got: list[dict[str, Any]] = []
        try:
            await store.append(s, NO_STREAM, [*notes("a", "b", "c"), raw("ContractRawData", {"n": 1})])
            await store.append(s, 4, [*notes("d"), raw("ContractRawData", {"n": 2}), *notes("e")])
            while len(got) < 2:
                batch = await asyncio.wait_for(anext(batches), HANG_GUARD)
                assert batch  # no empty batch for the events skipped
                got += [event.data for event in batch]
        finally:
            await batches.aclose()

        assert got == [{"n": 1}, {"n": 2}]

    # ---- reading several streams, counts, lag ----

    async def test_read_stream_stops_at_the_limit(self, store: EventStore) -> None:
        s = stream()
        await store.append(s, NO_STREAM, notes("a", "b", "c", "d"))

        assert texts(await store.read_stream(s, from_version=2, limit=2)) == ["b", "c"]

    async def test_read_streams_returns_each_stream_in_version_order_and_only_the_types_asked(
        self, store: EventStore
    ) -> None:
        s1, s2, empty = stream(), stream(), stream()
        await store.append(s1, NO_STREAM, notes("1a", "1b"))
        await store.append(s2, NO_STREAM, [*notes("2a"), raw("ContractRawData", {"n": 1})])
        await store.append(s1, 2, notes("1c"))

        found = await store.read_streams([s1, s2, empty])
        assert {sid: [e.stream_version for e in events] for sid, events in found.items()} == {
            s1: [1, 2, 3], s2: [1, 2]
        }
        assert texts(found[s1]) == ["1a", "1b", "1c"]
        only_raw = await store.read_streams([s1, s2], types=["ContractRawData"])
        assert {sid: [e.data for e in events] for sid, events in only_raw.items()} == {s2: [{"n": 1}]}

    async def test_counts_include_new_events_and_the_horizon_moves_past_them(self, store: EventStore) -> None:
        before, horizon_before = await store.count(), await store.horizon()
        await store.append(stream(), NO_STREAM, notes("a", "b"))

        horizon = await store.horizon()
        assert horizon > horizon_before
        assert await store.count() == before + 2
        assert await store.count(below=horizon) == before + 2
        assert await store.count(below=horizon_before) <= before
        assert not await store.has_pending(await self._end_of_log(store))

    async def test_behind_counts_what_follows_a_checkpoint_up_to_a_cap(self, store: EventStore) -> None:
        start = await self._end_of_log(store)
        assert await store.behind(start, 100) == Behind(0, 0.0)
        await store.append(stream(), NO_STREAM, notes("a", "b", "c"))

        behind = await store.behind(start, 100)
        assert behind.events == 3
        assert behind.seconds >= 0
        assert (await store.behind(start, 2)).events == 2
        assert (await store.behind(await self._end_of_log(store), 100)).events == 0

    async def test_compact_reads_keep_the_global_order_and_send_data_only_for_the_types_asked(
        self, store: EventStore
    ) -> None:
        start = await self._end_of_log(store)
        s = stream()
        await store.append(s, NO_STREAM, [*notes("a"), raw("ContractRawData", {"n": 1})])

        rows = await store.read_all_compact(start, 10, ["ContractNoteTaken"])
        full = await store.read_all(start, 10)
        assert [(r.stream_id, r.stream_version, r.global_position, r.transaction_id) for r in rows] == [
            (e.stream_id, e.stream_version, e.global_position, e.transaction_id) for e in full
        ]
        assert [r.type for r in rows] == ["ContractNoteTaken", "ContractRawData"]
        assert rows[0].data is not None and orjson.loads(rows[0].data) == {"text": "a"}
        assert rows[1].data is None
        assert datetime.fromisoformat(rows[0].recorded_at) == full[0].metadata.recorded_at

    # ---- filtered reads of the global order ----

    async def test_a_filtered_read_gets_its_own_streams_and_only_the_asked_events_of_others(
        self, store: EventStore
    ) -> None:
        tag = uuid.uuid4().hex[:8]  # the store may hold other tests' events: names of this test only
        mine, other, foreign = f"own{tag}-1", f"oth{tag}-1", f"oth{tag}-2"
        decided, sent, view = f"Decided{tag}", f"Sent{tag}", f"ViewChanged{tag}"
        meta = metadata("wamid.f", source="rules")
        await store.append(mine, NO_STREAM, [raw(decided, {"x": 1}, meta), raw(sent, {"x": 2})])
        await store.append(other, NO_STREAM, [raw(view, {"provider_id": "p1"}), raw(decided, {})])
        await store.append(foreign, NO_STREAM, [raw(view, {"provider_id": None})])
        query = OrderFilter(
            prefixes=(f"own{tag}",), exclude_types=frozenset({sent}), others_types=frozenset({view}),
            others_field="provider_id", metadata_text=("correlation_id", "absent"), metadata_json=("source",),
        )  # fmt: skip

        rows = await self._filtered(store, query, limit=1)

        assert [(r[0], r[2], r[7], r[8], r[9], r[10]) for r in rows] == [
            (mine, decided, "wamid.f", "", "rules", True),
            (other, view, "wamid.test", "", None, False),
        ]
        assert rows[0][4] == {"x": 1}

    async def test_filtered_shares_split_the_owned_streams_between_readers(self, store: EventStore) -> None:
        tag = uuid.uuid4().hex[:8]
        streams = [f"own{tag}-{n}" for n in range(12)]
        for s in streams:
            await store.append(s, NO_STREAM, notes("x"))
        horizon = await store.horizon()

        owned: list[set[str]] = []
        for share in range(3):
            query = OrderFilter(prefixes=(f"own{tag}",), share=share, shares=3)
            rows = await self._filtered(store, query)
            assert all(r[-1] for r in rows) and all(r[0].startswith(f"own{tag}") for r in rows)
            owned.append({r[0] for r in rows})
            assert (await store.count_filtered(query, horizon))[0] == len(rows)
        assert set().union(*owned) == set(streams)
        assert sum(len(o) for o in owned) == len(streams)
        one = OrderFilter(stream=streams[4])
        assert [r[0] for r in await self._filtered(store, one)] == [streams[4]]
        assert await store.count_filtered(one, horizon) == (1, await store.count(below=horizon))

    # ---- subscriptions and checkpoints ----

    async def test_a_subscription_sees_every_event_once_and_stores_its_checkpoint(self, store: EventStore) -> None:
        consumer = f"consumer-{uuid.uuid4().hex[:8]}"
        assert await store.load_checkpoint(consumer) == Checkpoint.START
        s = stream()
        await store.append(s, NO_STREAM, notes("a", "b", "c"))
        seen: list[str] = []

        async def record(_transaction: Any, events: Sequence[RecordedEvent]) -> None:
            seen.extend(text for e in events if e.stream_id == s for text in [e.data["text"]])

        async with running(store.subscribe(consumer, record, batch_size=2, poll_interval=0.05)):
            await eventually(async_true(lambda: seen == ["a", "b", "c"]))
            await store.append(s, 3, notes("d"))
            await eventually(async_true(lambda: seen == ["a", "b", "c", "d"]))
            end = await self._end_of_log(store)
            await eventually(lambda: self._checkpoint_is(store, consumer, end))

        seen.clear()
        await store.append(s, 4, notes("e"))
        async with running(store.subscribe(consumer, record, poll_interval=0.05)):
            await eventually(async_true(lambda: seen == ["e"]))  # resumed after its checkpoint

    async def test_a_failing_handler_leaves_the_checkpoint_where_it_was(self, store: EventStore) -> None:
        consumer = f"consumer-{uuid.uuid4().hex[:8]}"
        await store.append(stream(), NO_STREAM, notes("a"))

        async def fail(_transaction: Any, _events: Sequence[RecordedEvent]) -> None:
            raise RuntimeError("handler failed")

        with pytest.raises(RuntimeError, match="handler failed"):
            await asyncio.wait_for(store.subscribe(consumer, fail, poll_interval=0.05).run(), HANG_GUARD)
        assert await store.load_checkpoint(consumer) == Checkpoint.START

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
    async def _checkpoint_is(store: EventStore, consumer: str, expected: Checkpoint) -> bool:
        return await store.load_checkpoint(consumer) == expected

    @staticmethod
    async def _filtered(store: EventStore, query: OrderFilter, limit: int = 1000) -> list[Any]:
        """Every row of ``query`` below the horizon now, read in pages of ``limit``."""
        horizon = await store.horizon()
        rows: list[Any] = []
        after = (0, 0)
        while page := await store.read_filtered(query, after, horizon, limit):
            assert len(page) <= limit
            rows += page
            after = (page[-1][5], page[-1][6])
        return rows

    @staticmethod
    async def _end_of_log(store: EventStore) -> Checkpoint:
        """Where the log ends now: stores may be shared by several tests."""
        checkpoint = Checkpoint.START
        while page := await store.read_all(checkpoint, limit=10_000):
            checkpoint = Checkpoint.of(page[-1])
        return checkpoint
