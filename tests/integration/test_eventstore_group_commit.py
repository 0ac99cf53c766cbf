"""Group commit on PostgreSQL: appends made at once share a transaction, each keeps its own meaning."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from eventstore import ANY_VERSION, NO_STREAM, AppendResult, ConcurrencyError, DuplicateEventError, PostgresEventStore
from eventstore.group_commit import GroupCommit
from tests.eventstore_contract import notes, stream, texts

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(migrated_database: str) -> AsyncIterator[PostgresEventStore]:
    store = await PostgresEventStore.connect(migrated_database, min_size=1, max_size=4, reset_sessions=False)
    yield store
    await store.close()


async def test_appends_made_at_once_share_a_transaction(store: PostgresEventStore) -> None:
    group = GroupCommit(store)
    streams = [stream() for _ in range(10)]

    results = await asyncio.gather(*(group.append(s, NO_STREAM, notes(s), f"inbox-{s}") for s in streams))
    late = await asyncio.gather(*(group.append(s, 1, notes("later")) for s in streams[:3]))

    transactions = {result.checkpoint.transaction_id for result in results if result.checkpoint is not None}
    assert len(transactions) == 1
    assert late[0].checkpoint is not None and late[0].checkpoint.transaction_id not in transactions
    for n, s in enumerate(streams):
        assert texts(await store.read_stream(s)) == ([s, "later"] if n < 3 else [s])


async def test_a_conflict_in_a_group_fails_only_its_own_append(store: PostgresEventStore) -> None:
    group = GroupCommit(store)
    taken = stream()
    await store.append(taken, NO_STREAM, notes("first"))
    others = [stream() for _ in range(4)]

    first, *rest = await asyncio.gather(
        group.append(stream(), NO_STREAM, notes("alone")),
        group.append(others[0], NO_STREAM, notes("a")),
        group.append(taken, NO_STREAM, notes("stale")),  # the stream is at version 1, not 0
        *(group.append(s, ANY_VERSION, notes("b")) for s in others[1:]),
        return_exceptions=True,
    )

    assert isinstance(first, AppendResult)
    assert isinstance(rest[1], ConcurrencyError)
    assert all(isinstance(result, AppendResult) for i, result in enumerate(rest) if i != 1)
    assert texts(await store.read_stream(taken)) == ["first"]
    for s in others:
        assert len(await store.read_stream(s)) == 1


async def test_an_inbox_id_seen_before_is_a_duplicate_inside_a_group_too(store: PostgresEventStore) -> None:
    group = GroupCommit(store)
    s = stream()
    await store.append(s, ANY_VERSION, notes("once"), inbox_id="inbox-seen")

    results = await asyncio.gather(
        group.append(stream(), ANY_VERSION, notes("alone")),
        group.append(s, ANY_VERSION, notes("again"), "inbox-seen"),
        group.append(s, ANY_VERSION, notes("new"), "inbox-new"),
        group.append(s, ANY_VERSION, notes("new again"), "inbox-new"),  # the same id twice in one group
    )

    assert [r.already_handled for r in results] == [False, True, False, True]
    assert texts(await store.read_stream(s)) == ["once", "new"]


async def test_followers_are_woken_once_a_group_commits(store: PostgresEventStore) -> None:
    group = GroupCommit(store)
    woken = asyncio.Event()

    def on_notify(*_: object) -> None:
        woken.set()

    async with store.pool.acquire() as listener:
        await listener.add_listener("events", on_notify)
        await asyncio.gather(*(group.append(stream(), NO_STREAM, notes("x")) for _ in range(3)))
        await asyncio.wait_for(woken.wait(), timeout=10)
        await listener.remove_listener("events", on_notify)


async def test_a_duplicate_event_id_fails_only_its_own_append(store: PostgresEventStore) -> None:
    group = GroupCommit(store)
    stored = notes("stored")
    await store.append(stream(), NO_STREAM, stored)
    others = [stream() for _ in range(3)]

    results = await asyncio.gather(
        group.append(stream(), NO_STREAM, notes("alone")),
        group.append(others[0], NO_STREAM, notes("a")),
        group.append(stream(), NO_STREAM, stored),  # the same event id again: the whole statement fails
        *(group.append(s, ANY_VERSION, notes("b")) for s in others[1:]),
        return_exceptions=True,
    )

    assert isinstance(results[2], DuplicateEventError)
    assert all(isinstance(result, AppendResult) for i, result in enumerate(results) if i != 2)
    for s in others:
        assert len(await store.read_stream(s)) == 1


def _transaction_of(result: AppendResult) -> int:
    assert result.checkpoint is not None
    return result.checkpoint.transaction_id


async def test_patient_appends_made_apart_wait_to_share_a_transaction(store: PostgresEventStore) -> None:
    group = GroupCommit(store, patience=1.0)

    first = asyncio.ensure_future(group.patiently.append(stream(), NO_STREAM, notes("sent"), "status-1"))
    await asyncio.sleep(0.05)  # not at once: without patience the first would have gone alone
    second = await group.patiently.append(stream(), NO_STREAM, notes("read"), "status-2")

    assert _transaction_of(await first) == _transaction_of(second)


async def test_an_urgent_append_takes_the_waiting_ones_along_at_once(store: PostgresEventStore) -> None:
    group = GroupCommit(store, patience=60.0)  # longer than the test may take: only the urgent one sends it
    s = stream()

    waiting = asyncio.ensure_future(group.patiently.append(stream(), NO_STREAM, notes("delivered"), "status-3"))
    await asyncio.sleep(0.05)
    decided = await asyncio.wait_for(group.append(s, NO_STREAM, notes("decision"), "message-1"), timeout=20)

    assert _transaction_of(await asyncio.wait_for(waiting, timeout=20)) == _transaction_of(decided)
    assert texts(await store.read_stream(s)) == ["decision"]


async def test_a_full_group_of_patient_appends_goes_at_once(store: PostgresEventStore) -> None:
    group = GroupCommit(store, max_group=3, patience=60.0)

    results = await asyncio.wait_for(
        asyncio.gather(*(group.patiently.append(stream(), NO_STREAM, notes("x")) for _ in range(3))), timeout=20
    )

    assert len({_transaction_of(result) for result in results}) == 1
