"""The event store contract on PostgreSQL, plus what only the database can promise: immutability."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from eventstore import NO_STREAM, PostgresEventStore
from tests.eventstore_contract import EventStoreContract, notes, stream

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(migrated_database: str) -> AsyncIterator[PostgresEventStore]:
    store = await PostgresEventStore.connect(migrated_database, min_size=1, max_size=4)
    yield store
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


async def test_an_append_inside_a_rolled_back_transaction_leaves_no_trace(store: PostgresEventStore) -> None:
    s = stream()
    async with store.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await store.append(s, NO_STREAM, notes("never"), inbox_id="wamid.rolled-back", connection=conn)
        await tx.rollback()

    assert await store.stream_version(s) == 0
    assert not await store.is_handled("wamid.rolled-back")
