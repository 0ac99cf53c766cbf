"""Following the global order: NOTIFY wakes readers, polling still works, checkpoints commit with effects."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest

from contracts.events import RecordedEvent
from eventstore import (
    ANY_VERSION,
    NO_STREAM,
    AppendResult,
    Checkpoint,
    CheckpointConflict,
    PostgresEventStore,
    Subscription,
    SubscriptionGroup,
    load_checkpoint,
    load_checkpoints,
    save_checkpoint,
    save_checkpoints,
)
from eventstore.notify import NOTIFY_CHANNEL, Notifier, Wakeup
from eventstore.pool import AnyConnection
from eventstore.postgres import Append
from eventstore.subscription import follow_pages
from tests.eventstore_contract import HANG_GUARD, eventually, notes, raw, stream, texts

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(migrated_database: str) -> AsyncIterator[PostgresEventStore]:
    store = await PostgresEventStore.connect(migrated_database, min_size=1, max_size=6)
    await store.pool.execute("CREATE TABLE seen (event_id uuid, stream_id text, stream_version int)")
    yield store
    await store.close()


async def record_seen(conn: AnyConnection, batch: Sequence[RecordedEvent]) -> None:
    await conn.executemany(
        "INSERT INTO seen VALUES ($1, $2, $3)", [(e.event_id, e.stream_id, e.stream_version) for e in batch]
    )


async def seen_count(store: PostgresEventStore) -> int:
    return int(await store.pool.fetchval("SELECT count(*) FROM seen"))


@contextlib.asynccontextmanager
async def running(subscription: Subscription | SubscriptionGroup) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(subscription.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def next_batch_after_append(store: PostgresEventStore, **follow_args: Any) -> list[RecordedEvent]:
    async with contextlib.aclosing(store.follow(Checkpoint.START, **follow_args)) as batches:
        waiting = asyncio.create_task(anext(batches))
        await asyncio.sleep(0.2)  # let the follower read, find nothing and start waiting
        await store.append(stream(), NO_STREAM, notes("new"))
        return await asyncio.wait_for(waiting, HANG_GUARD)


async def test_an_append_notifies_listeners_when_it_commits(store: PostgresEventStore) -> None:
    wakeup = Wakeup(store.pool, NOTIFY_CHANNEL)
    await wakeup.ensure()
    wakeup.event.clear()
    try:
        await store.append(stream(), NO_STREAM, notes("ping"))
        await asyncio.wait_for(wakeup.event.wait(), HANG_GUARD)
    finally:
        await wakeup.close()


async def test_an_append_inside_a_caller_transaction_notifies_only_when_that_commits(
    store: PostgresEventStore,
) -> None:
    wakeup = Wakeup(store.pool, NOTIFY_CHANNEL)
    await wakeup.ensure()
    wakeup.event.clear()
    try:
        async with store.pool.acquire() as conn:
            async with conn.transaction():
                await store.append(stream(), NO_STREAM, notes("pending"), connection=conn)
                await asyncio.sleep(0.1)
                assert not wakeup.event.is_set()  # PostgreSQL delivers nothing before commit
            await asyncio.wait_for(wakeup.event.wait(), HANG_GUARD)
    finally:
        await wakeup.close()


@contextlib.asynccontextmanager
async def listening(store: PostgresEventStore) -> AsyncIterator[tuple[Any, asyncio.Queue[str]]]:
    """A connection of ``store``'s pool listening on the store's channel, and the payloads it hears."""
    payloads: asyncio.Queue[str] = asyncio.Queue()

    def heard(*args: Any) -> None:
        payloads.put_nowait(args[3])

    async with store.pool.acquire() as conn:
        await conn.add_listener(NOTIFY_CHANNEL, heard)
        try:
            yield conn, payloads
        finally:
            await conn.remove_listener(NOTIFY_CHANNEL, heard)


async def test_a_notification_names_the_types_appended_and_wakes_only_their_followers(
    store: PostgresEventStore,
) -> None:
    async with listening(store) as (conn, payloads):
        await store.append(stream(), NO_STREAM, [*notes("a"), raw("ReplyQueued", {})])
        payload = await asyncio.wait_for(payloads.get(), HANG_GUARD)
        await store.append(stream(), NO_STREAM, notes("in a caller's transaction"), connection=conn)
        unnamed = await asyncio.wait_for(payloads.get(), HANG_GUARD)
    assert payload == "ContractNoteTaken,ReplyQueued"
    assert unnamed == ""

    ours = Wakeup(store.pool, NOTIFY_CHANNEL, types={"ReplyQueued"})
    for types, wakes in (("ContractNoteTaken", False), ("ContractNoteTaken,ReplyQueued", True), ("", True)):
        ours.event.clear()
        ours._on_notify(None, 0, NOTIFY_CHANNEL, types)
        assert ours.event.is_set() == wakes, types


class _CountingPool:
    """Stands in for a pool: counts the statements the notifier sends."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[_CountingPool]:
        yield self

    async def execute(self, sql: str) -> None:
        self.sent.append(sql)


async def test_a_burst_of_appends_is_announced_by_a_single_notify() -> None:
    pool = _CountingPool()
    notifier = Notifier(pool, min_interval=0)  # type: ignore[arg-type]

    for _ in range(100):
        notifier.poke()
    await notifier.flush()
    assert len(pool.sent) == 1

    notifier.poke()
    await notifier.flush()
    assert len(pool.sent) == 2


async def test_unhurried_appends_wait_for_company_and_a_hurried_one_goes_at_once() -> None:
    pool = _CountingPool()
    notifier = Notifier(pool, min_interval=0, unhurried_interval=3600)  # type: ignore[arg-type]
    notifier.unhurried(["ReplySent"])

    notifier.poke(["ReplySent"])
    await asyncio.sleep(0.05)
    assert pool.sent == []  # waiting for company
    notifier.poke(["ReplySent"])
    notifier.poke(["ReplyQueued"])
    await asyncio.wait_for(notifier.flush(), HANG_GUARD)
    assert len(pool.sent) == 1  # the hurried one took the waiting ones along
    assert "ReplyQueued,ReplySent" in pool.sent[0]


async def test_an_append_that_takes_the_waiting_wake_ups_along_leaves_the_notifier_nothing_to_send() -> None:
    pool = _CountingPool()
    notifier = Notifier(pool, min_interval=0, unhurried_interval=0.05)  # type: ignore[arg-type]
    notifier.unhurried(["ReplySent"])

    assert notifier.take_along({"ReplySent"}) is None  # unhurried itself: it waits for company
    notifier.poke(["ReplySent"])
    assert notifier.take_along({"ReplyQueued"}) == "ReplyQueued,ReplySent"
    await asyncio.wait_for(notifier.flush(), HANG_GUARD)
    assert pool.sent == []
    assert notifier.take_along({"ReplyQueued"}) == "ReplyQueued"


async def test_an_append_alone_announces_itself_and_the_appends_waiting_for_company_in_one_transaction(
    store: PostgresEventStore,
) -> None:
    store.notify_unhurried(["ContractRawData"])
    async with listening(store) as (_, payloads):
        await store.append(stream(), NO_STREAM, [raw("ContractRawData", {})])  # waits for company
        await store.append(stream(), NO_STREAM, notes("hurried"))
        payload = await asyncio.wait_for(payloads.get(), HANG_GUARD)
        await asyncio.sleep(0.5)  # past the company wait: a NOTIFY of the notifier's own would be heard by now
    assert payload == "ContractNoteTaken,ContractRawData"
    assert payloads.empty()


async def test_a_group_of_appends_alone_announces_itself_and_the_appends_waiting_for_company(
    store: PostgresEventStore,
) -> None:
    store.notify_unhurried(["ContractRawData"])
    async with listening(store) as (_, payloads):
        await store.append(stream(), NO_STREAM, [raw("ContractRawData", {})])  # waits for company
        group = [Append(stream(), NO_STREAM, notes("a")), Append(stream(), NO_STREAM, notes("b"))]
        results = await store.append_many(group)
        payload = await asyncio.wait_for(payloads.get(), HANG_GUARD)
        await asyncio.sleep(0.5)  # past the company wait: a NOTIFY of the notifier's own would be heard by now
    assert [result.stream_version for result in results if isinstance(result, AppendResult)] == [1, 1]
    assert payload == "ContractNoteTaken,ContractRawData"
    assert payloads.empty()


async def test_an_append_that_writes_nothing_gives_back_the_wake_ups_it_took_along(store: PostgresEventStore) -> None:
    store.notify_unhurried(["ContractRawData"])
    first = stream()
    await store.append(first, NO_STREAM, notes("1"), inbox_id="seen-before")
    async with listening(store) as (_, payloads):
        await store.append(stream(), NO_STREAM, [raw("ContractRawData", {})])  # waits for company
        again = await store.append(first, ANY_VERSION, notes("1 again"), inbox_id="seen-before")
        assert again.already_handled
        payload = await asyncio.wait_for(payloads.get(), HANG_GUARD)
    assert "ContractRawData" in payload.split(",")


async def test_a_follower_is_woken_by_notify_long_before_its_next_poll(store: PostgresEventStore) -> None:
    batch = await next_batch_after_append(store, poll_interval=3600)

    assert texts(batch) == ["new"]


async def test_a_follower_that_only_polls_still_sees_new_events(store: PostgresEventStore) -> None:
    from eventstore.subscription import follow

    async with contextlib.aclosing(follow(store, poll_interval=0.05, listen=False)) as batches:
        waiting = asyncio.create_task(anext(batches))
        await asyncio.sleep(0.2)
        await store.append(stream(), NO_STREAM, notes("polled"))
        batch = await asyncio.wait_for(waiting, HANG_GUARD)

    assert texts(batch) == ["polled"]


async def test_a_subscription_commits_its_checkpoint_with_the_handlers_writes(store: PostgresEventStore) -> None:
    await store.append(stream(), NO_STREAM, notes("a", "b", "c"))
    last = await store.append(stream(), NO_STREAM, notes("d", "e"))

    async with running(store.subscribe("leads-view", record_seen, batch_size=2)):
        await eventually(lambda: _checkpoint_is(store, "leads-view", last.checkpoint))

    assert await seen_count(store) == 5


async def _checkpoint_is(store: PostgresEventStore, consumer: str, expected: Checkpoint | None) -> bool:
    return await load_checkpoint(store.pool, consumer) == expected


async def test_when_the_handler_fails_neither_its_writes_nor_the_checkpoint_commit(
    store: PostgresEventStore,
) -> None:
    await store.append(stream(), NO_STREAM, notes("a", "b"))

    async def record_then_fail(conn: AnyConnection, batch: Sequence[RecordedEvent]) -> None:
        await record_seen(conn, batch)
        raise RuntimeError("projection bug")

    with pytest.raises(RuntimeError, match="projection bug"):
        await asyncio.wait_for(store.subscribe("leads-view", record_then_fail).run(), HANG_GUARD)

    assert await seen_count(store) == 0
    assert await load_checkpoint(store.pool, "leads-view") == Checkpoint.START

    async with running(store.subscribe("leads-view", record_seen)):
        await eventually(lambda: _seen_is(store, 2))


async def _seen_is(store: PostgresEventStore, count: int) -> bool:
    return await seen_count(store) == count


async def test_a_restarted_subscription_resumes_after_its_stored_checkpoint(store: PostgresEventStore) -> None:
    await store.append(stream(), NO_STREAM, notes("a", "b", "c"))
    async with running(store.subscribe("sender", record_seen)):
        await eventually(lambda: _seen_is(store, 3))

    later = await store.append(stream(), NO_STREAM, notes("d", "e"))
    handled: list[str] = []

    async def remember(conn: AnyConnection, batch: Sequence[RecordedEvent]) -> None:
        handled.extend(texts(list(batch)))

    async with running(store.subscribe("sender", remember)):
        await eventually(lambda: _checkpoint_is(store, "sender", later.checkpoint))

    assert handled == ["d", "e"]


async def test_two_runners_of_one_consumer_commit_each_event_once(store: PostgresEventStore) -> None:
    async def slow_record(conn: AnyConnection, batch: Sequence[RecordedEvent]) -> None:
        await record_seen(conn, batch)
        await asyncio.sleep(0.01)  # widen the window in which both runners hold the same batch

    first = store.subscribe("closer", slow_record, batch_size=3, poll_interval=0.05)
    second = store.subscribe("closer", slow_record, batch_size=3, poll_interval=0.05)
    async with running(first), running(second):
        for i in range(10):
            await store.append(stream(), NO_STREAM, notes(f"{i}a", f"{i}b", f"{i}c"))
        # Behind every batch: once both runners stand at it (committed, or reloaded after losing), neither
        # holds a batch it could still commit a second time.
        sentinel = await store.append(stream(), NO_STREAM, notes("sentinel"))
        await eventually(lambda: _both_at(first, second, sentinel.checkpoint))

    assert await seen_count(store) == 31
    assert await store.pool.fetchval("SELECT count(DISTINCT event_id) FROM seen") == 31


async def _both_at(first: Subscription, second: Subscription, checkpoint: Checkpoint | None) -> bool:
    return first.checkpoint == second.checkpoint == checkpoint


async def test_a_consumer_never_seen_starts_at_the_beginning(store: PostgresEventStore) -> None:
    assert await load_checkpoint(store.pool, "nobody") == Checkpoint.START


async def test_saving_a_checkpoint_over_one_that_moved_meanwhile_is_refused(store: PostgresEventStore) -> None:
    async with store.pool.acquire() as conn:
        await save_checkpoint(conn, "outbound", Checkpoint(10, 5))
        await save_checkpoint(conn, "outbound", Checkpoint(11, 7), expected=Checkpoint(10, 5))

        with pytest.raises(CheckpointConflict):
            await save_checkpoint(conn, "outbound", Checkpoint(12, 9), expected=Checkpoint(10, 5))

    assert await load_checkpoint(store.pool, "outbound") == Checkpoint(11, 7)


# ---- several consumers of one process: one reader, one transaction per batch ----


def recorder(name: str) -> Callable[[AnyConnection, Sequence[RecordedEvent]], Awaitable[None]]:
    async def record(conn: AnyConnection, batch: Sequence[RecordedEvent]) -> None:
        rows = [(e.event_id, f"{name}:{e.stream_id}", e.stream_version) for e in batch]
        await conn.executemany("INSERT INTO seen VALUES ($1, $2, $3)", rows)

    return record


async def seen_by(store: PostgresEventStore, name: str) -> list[int]:
    rows = await store.pool.fetch("SELECT stream_version FROM seen WHERE stream_id LIKE $1 ORDER BY 1", f"{name}:%")
    return [row[0] for row in rows]


async def test_group_members_each_get_the_events_after_their_own_checkpoint(store: PostgresEventStore) -> None:
    s = stream()
    first = await store.append(s, NO_STREAM, notes("1", "2"))
    last = await store.append(s, 2, notes("3", "4"))
    async with store.pool.acquire() as conn:
        await save_checkpoint(conn, "ahead", first.checkpoint or Checkpoint.START)
        await save_checkpoint(conn, "done", last.checkpoint or Checkpoint.START)
    group = SubscriptionGroup(
        store, {name: recorder(name) for name in ("behind", "ahead", "done")}, batch_size=3, poll_interval=0.05
    )

    async with running(group):
        await eventually(lambda: _checkpoint_is(store, "behind", last.checkpoint))
        await eventually(lambda: _checkpoint_is(store, "ahead", last.checkpoint))

    assert await seen_by(store, "behind") == [1, 2, 3, 4]
    assert await seen_by(store, "ahead") == [3, 4]
    assert await seen_by(store, "done") == []
    assert await load_checkpoint(store.pool, "done") == last.checkpoint


async def test_when_one_member_fails_no_member_commits_effects_or_checkpoint(store: PostgresEventStore) -> None:
    await store.append(stream(), NO_STREAM, notes("a", "b"))

    async def fail(conn: AnyConnection, batch: Sequence[RecordedEvent]) -> None:
        raise RuntimeError("projection bug")

    group = SubscriptionGroup(store, {"fine": recorder("fine"), "broken": fail}, poll_interval=0.05)
    with pytest.raises(RuntimeError, match="projection bug"):
        await asyncio.wait_for(group.run(), HANG_GUARD)

    assert await seen_count(store) == 0
    assert await load_checkpoint(store.pool, "fine") == Checkpoint.START


async def test_checkpoints_moved_together_are_refused_together_if_one_moved_meanwhile(
    store: PostgresEventStore,
) -> None:
    async with store.pool.acquire() as conn:
        await save_checkpoint(conn, "one", Checkpoint(10, 5))
        with pytest.raises(CheckpointConflict):
            async with conn.transaction():
                await save_checkpoints(
                    conn, [("one", Checkpoint(12, 9), Checkpoint(10, 4)), ("two", Checkpoint(12, 9), Checkpoint.START)]
                )
        await save_checkpoints(
            conn, [("one", Checkpoint(12, 9), Checkpoint(10, 5)), ("two", Checkpoint(12, 9), Checkpoint.START)]
        )

    assert await load_checkpoints(store.pool, ["one", "two", "three"]) == {
        "one": Checkpoint(12, 9), "two": Checkpoint(12, 9), "three": Checkpoint.START
    }


async def test_a_polling_follower_counts_its_poll_interval_from_its_last_read_not_from_its_batch_end(
    store: PostgresEventStore,
) -> None:
    loop = asyncio.get_running_loop()
    pages = follow_pages(store, poll_interval=2.0, listen=False)
    async with contextlib.aclosing(pages):
        await store.append(stream(), NO_STREAM, notes("first"))
        assert texts((await asyncio.wait_for(anext(pages), HANG_GUARD)).events) == ["first"]
        await store.append(stream(), NO_STREAM, notes("second"))
        await asyncio.sleep(2.1)  # its batch took longer than the poll interval: the next read is due
        resumed = loop.time()
        assert texts((await asyncio.wait_for(anext(pages), HANG_GUARD)).events) == ["second"]
        assert loop.time() - resumed < 1.0  # not a whole interval more
