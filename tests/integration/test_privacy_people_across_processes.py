"""People and their keys kept in memory between messages, against the real PostgreSQL: two stores on one
database stand for two processes (an orchestrator, and the CLI or a second orchestrator erasing). A known
person costs no query while erasures are heard; an erasure in the other process is heard when it commits;
a lost LISTEN connection makes the memory untrusted until it listens again; a process that hears nothing
reads a person's key with their events, in the same statement."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from conectapro.erasure import forget
from contracts.events import EventMetadata, NewEvent
from contracts.personal import SUPPRESSED
from contracts.privacy_events import ErasureOutcome
from eventstore import NO_STREAM, PostgresEventStore
from eventstore.notify import Wakeup
from eventstore.pool import init_connection
from infra.settings import Settings
from privacy.setup import Privacy, hear_erasures, protect
from tests.integration.privacy_support import PRIVACY_MASTER_KEY
from tests.integration.projections_support import eventually

pytestmark = pytest.mark.integration

PHONE = "56912340001"
METADATA = EventMetadata(correlation_id="across-processes", recorded_at=datetime(2026, 12, 1, 12, tzinfo=UTC))


def _now() -> datetime:
    return datetime(2026, 12, 1, 12, tzinfo=UTC)


async def _process(stack: AsyncExitStack, database: str) -> tuple[PostgresEventStore, Privacy, Wakeup]:
    """A store of its own, protected, hearing erasures (what ``privacy.setup.service_store`` gives a service),
    with a follower's wake-up listening (whose LISTEN connection the erasures share)."""
    store = await PostgresEventStore.connect(database, min_size=1, max_size=4)
    stack.push_async_callback(store.close)
    privacy = protect(store, Settings(privacy_master_key=PRIVACY_MASTER_KEY))
    hear_erasures(stack, store, privacy)
    wakeup = Wakeup(store.pool)
    stack.push_async_callback(wakeup.close)
    await wakeup.ensure()
    assert privacy.signal.live
    return store, privacy, wakeup


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


async def test_a_known_person_is_answered_from_memory_while_erasures_are_heard(
    read_models_database: str, stack: AsyncExitStack
) -> None:
    store, privacy, _ = await _process(stack, read_models_database)
    person = await privacy.people.key_for(PHONE)
    # The row gone behind the process's back (no erasure, no notification): only memory can still answer.
    await store.pool.execute("DELETE FROM privacy_people WHERE person_key = $1", person)
    assert await privacy.people.find(PHONE) == person
    assert await privacy.people.key_for(PHONE) == person
    await privacy.keyring.load([person])
    assert privacy.keyring.key(person) is not None


async def test_an_erasure_in_another_process_is_heard_when_it_commits(
    read_models_database: str, stack: AsyncExitStack
) -> None:
    _, orchestrator, _ = await _process(stack, read_models_database)
    cli_store, cli, _ = await _process(stack, read_models_database)
    person = await orchestrator.people.key_for(PHONE)
    await orchestrator.keyring.load([person])
    assert orchestrator.keyring.key(person) is not None
    heard = orchestrator.signal.mark()

    erasure = await forget(cli_store, cli, None, PHONE, requested_by="cli", force=False, now=_now)
    assert erasure.outcome == ErasureOutcome.FORGOTTEN and erasure.person_key == person

    async def erasure_heard() -> bool:
        return orchestrator.signal.mark() != heard

    await eventually(erasure_heard, "the erasure's notification")
    assert orchestrator.keyring.key(person) is None  # nothing is sealed or opened with it any more
    await orchestrator.keyring.load([person])
    assert orchestrator.keyring.key(person) is None
    assert await orchestrator.people.find(PHONE) is None
    again = await orchestrator.people.key_for(PHONE)  # the phone writes again: a new person
    assert again != person
    assert await cli.people.find(PHONE) == again


async def test_an_erasure_rolled_back_is_not_heard(read_models_database: str, stack: AsyncExitStack) -> None:
    _, orchestrator, _ = await _process(stack, read_models_database)
    cli_store, cli, _ = await _process(stack, read_models_database)
    person = await orchestrator.people.key_for(PHONE)
    heard = orchestrator.signal.mark()

    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned):
        async with cli_store.pool.acquire() as connection, connection.transaction():
            await cli.people.erase(person, connection)
            raise Abandoned
    # A sentinel erasure after it: notifications arrive in commit order, so once this one is heard, the
    # rolled-back one would have been too.
    sentinel = await cli.people.key_for("56912340002")
    await cli.people.erase(sentinel)

    async def sentinel_heard() -> bool:
        return orchestrator.signal.mark() != heard

    await eventually(sentinel_heard, "the sentinel erasure's notification")
    assert orchestrator.signal.mark() == heard + 1
    assert await orchestrator.people.find(PHONE) == person


async def test_a_lost_listen_connection_leaves_nothing_trusted_until_it_listens_again(
    read_models_database: str, stack: AsyncExitStack
) -> None:
    _, orchestrator, wakeup = await _process(stack, read_models_database)
    cli_store = await PostgresEventStore.connect(read_models_database, min_size=1, max_size=2)
    stack.push_async_callback(cli_store.close)
    cli = protect(cli_store, Settings(privacy_master_key=PRIVACY_MASTER_KEY))  # erases, listens to nothing
    person = await orchestrator.people.key_for(PHONE)

    ended = await cli_store.pool.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query = 'LISTEN \"privacy_forgotten\"'"
    )
    assert ended == 1

    async def deaf() -> bool:
        return not orchestrator.signal.live

    await eventually(deaf, "the lost connection noticed")
    await cli.people.erase(person)  # unheard by the orchestrator
    assert await orchestrator.people.find(PHONE) is None
    await orchestrator.keyring.load([person])
    assert orchestrator.keyring.key(person) is None

    await wakeup.ensure()  # the follower's next read listens again
    assert orchestrator.signal.live
    again = await orchestrator.people.key_for(PHONE)
    assert again != person
    assert await orchestrator.people.find(PHONE) == again


async def test_a_store_that_hears_no_erasures_reads_keys_with_the_events_in_one_statement(
    read_models_database: str, stack: AsyncExitStack
) -> None:
    writer, orchestrator, _ = await _process(stack, read_models_database)
    person = await orchestrator.people.key_for(PHONE)
    stream = f"customer-{person}"
    received = {"wamid": "wamid.across.1", "role": "customer", "phone": PHONE, "profile_name": "Camila",
                "message_type": "text", "text": "hola", "received_at": _now().isoformat()}  # fmt: skip
    message = NewEvent(event_id=uuid4(), type="MessageReceived", data=received, metadata=METADATA)
    await writer.append(stream, NO_STREAM, [message])
    statements: list[str] = []

    async def logged(connection: asyncpg.Connection[Any]) -> None:
        await init_connection(connection)
        connection.add_query_logger(lambda query: statements.append(query.query))

    # A process with no follower of the store (the operator API, a command): nothing tells it of erasures.
    pool = await asyncpg.create_pool(read_models_database, min_size=1, max_size=1, init=logged)
    stack.push_async_callback(pool.close)
    api_store = PostgresEventStore(pool)
    protect(api_store, Settings(privacy_master_key=PRIVACY_MASTER_KEY))

    def reads() -> list[str]:
        return [sql for sql in statements if "events" in sql or "privacy_people" in sql]

    [event] = await api_store.read_stream(stream)
    assert event.data["phone"] == PHONE and event.data["text"] == "hola"
    [read] = reads()
    assert "privacy_people" in read  # the key came with the events: one round trip

    await orchestrator.people.erase(person)
    statements.clear()
    [event] = await api_store.read_stream(stream)
    assert event.data["phone"] == SUPPRESSED and event.data["text"] == SUPPRESSED
    [event] = (await api_store.read_streams([stream]))[stream]
    assert event.data["phone"] == SUPPRESSED
    assert len(reads()) == 2
