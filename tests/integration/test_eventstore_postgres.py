"""The event store contract on PostgreSQL, plus what only the database can promise: immutability."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from contracts.events import RecordedEvent
from eventstore import NO_STREAM, Checkpoint, PostgresEventStore
from eventstore.store import OrderPage
from tests.eventstore_contract import EventStoreContract, notes, stream

pytestmark = pytest.mark.integration


@pytest.fixture(params=[True, False], ids=["reset-sessions", "keep-sessions"])
async def store(migrated_database: str, request: pytest.FixtureRequest) -> AsyncIterator[PostgresEventStore]:
    # The whole contract holds with and without asyncpg's session reset on release (the orchestrator's pool).
    store = await PostgresEventStore.connect(migrated_database, min_size=1, max_size=4, reset_sessions=request.param)
    yield store
    await store.close()


async def test_a_pool_that_keeps_sessions_still_rolls_back_a_transaction_left_open(migrated_database: str) -> None:
    store = await PostgresEventStore.connect(migrated_database, min_size=1, max_size=1, reset_sessions=False)
    try:
        conn = await store.pool.acquire()
        await conn.execute("BEGIN; CREATE TEMP TABLE left_behind (n int) ON COMMIT DROP")
        await store.pool.release(conn)
        async with store.pool.acquire() as again:
            assert not again.is_in_transaction()
            assert await again.fetchval("SELECT to_regclass('pg_temp.left_behind')") is None
    finally:
        await store.close()


class TestPostgresEventStore(EventStoreContract):
    pass


@pytest.mark.parametrize(
    "statement",
    ["UPDATE events SET type = 'Forged'", "DELETE FROM events", "TRUNCATE events"],
    ids=["update", "delete", "truncate"],
)
async def test_the_database_refuses_to_change_or_remove_stored_events(
    store: PostgresEventStore, statement: str
) -> None:
    s = stream()
    await store.append(s, NO_STREAM, notes("kept"))

    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        await store.pool.execute(statement)

    [event] = await store.read_stream(s)
    assert (event.type, event.data) == ("ContractNoteTaken", {"text": "kept"})


async def test_events_read_back_equal_fully_validated_envelopes(store: PostgresEventStore) -> None:
    # Reads skip re-validating what the schema guarantees; this is what they must still amount to.
    s = stream()
    await store.append(s, NO_STREAM, [*notes("a", "b"), *notes("c")])

    for event in [*await store.read_stream(s), *await store.read_all()]:
        validated = RecordedEvent.model_validate(event.model_dump())
        assert event == validated
        assert event.model_fields_set == validated.model_fields_set
        assert event.model_dump_json() == validated.model_dump_json()
        assert hash(event.metadata) == hash(validated.metadata)


async def test_the_database_refuses_data_that_is_not_a_json_object(store: PostgresEventStore) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await store.pool.execute(
            "INSERT INTO events (stream_id, stream_version, event_id, type, data, metadata)"
            " VALUES ('s', 1, gen_random_uuid(), 'T', '[1, 2]', '{}')"
        )


async def test_an_append_inside_a_rolled_back_transaction_leaves_no_trace(store: PostgresEventStore) -> None:
    s = stream()
    async with store.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await store.append(s, NO_STREAM, notes("never"), inbox_id="wamid.rolled-back", connection=conn)
        await tx.rollback()

    assert await store.stream_version(s) == 0
    assert not await store.is_handled("wamid.rolled-back")


async def test_a_followers_read_returns_only_final_events_and_says_when_more_wait_behind_an_open_one(
    store: PostgresEventStore,
) -> None:
    anchor = await store.append(stream(), NO_STREAM, notes("anchor"))
    assert anchor.checkpoint is not None
    start = anchor.checkpoint
    await store.append(stream(), NO_STREAM, notes("before"))
    async with store.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await conn.execute("SELECT pg_current_xact_id()")  # an older transaction, still open
        await store.append(stream(), NO_STREAM, notes("after 1", "after 2"))  # committed behind it

        page = await store.read_order(start, 100)
        assert [e.data["text"] for e in page.events] == ["before"]
        assert page.pending
        assert page.events == await store.read_all(start, 100)
        assert await store.has_pending(start)

        held = stream()
        await store.append(held, NO_STREAM, notes("held"), connection=conn)
        await tx.commit()

    page = await store.read_order(start, 100)
    # The open transaction took its id first: its event comes before those that committed behind it.
    assert [e.data["text"] for e in page.events] == ["before", "held", "after 1", "after 2"]
    assert not page.pending
    assert page.events == await store.read_all(start, 100)
    assert (await store.read_order(start, 2)).events == page.events[:2]
    end = Checkpoint.of(page.events[-1])
    assert await store.read_order(end, 100) == OrderPage([], False, end, False)
