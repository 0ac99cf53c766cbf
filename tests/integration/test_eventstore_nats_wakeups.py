"""Followers woken over NATS core instead of PostgreSQL NOTIFY (``infra.wakeups``), against the real servers:
two stores, each with its own NATS connection, stand for two processes. Nothing NOTIFYs on the events channel
in PostgreSQL; each store keeps one LISTEN connection, for erasures and for the NOTIFYs of a process without
NATS (a command)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import asyncpg
import pytest
from nats.aio.client import Client as NATS

from conectapro.erasure import forget
from contracts.outbound import ReplyQueued
from contracts.privacy_events import ErasureOutcome
from eventstore import NOTIFY_CHANNEL, PostgresEventStore
from eventstore.store import NO_STREAM
from eventstore.subscription import follow_pages
from infra.jetstream import connect
from infra.settings import Settings
from privacy.setup import protect, service_store
from tests.conftest import Infra
from tests.eventstore_contract import HANG_GUARD, eventually, notes, raw, stream, texts
from tests.integration.privacy_support import PRIVACY_MASTER_KEY
from tests.integration.wakeup_support import woken_process

pytestmark = pytest.mark.integration

PHONE = "56912340001"


def _now() -> datetime:
    return datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


async def _process(stack: AsyncExitStack, database: str, infra: Infra) -> tuple[PostgresEventStore, NATS]:
    return await woken_process(stack, database, infra.nats_url)


async def _listening_sessions(store: PostgresEventStore, channel: str, but: int = 0) -> int:
    query = "SELECT count(*) FROM pg_stat_activity WHERE query = $1 AND pid <> $2"
    return int(await store.pool.fetchval(query, f'LISTEN "{channel}"', but))


async def test_a_follower_in_another_process_is_woken_over_nats_and_postgresql_hears_no_notify(
    migrated_database: str, infra: Infra, stack: AsyncExitStack
) -> None:
    writer, _ = await _process(stack, migrated_database, infra)
    reader, _ = await _process(stack, migrated_database, infra)
    _, idle = await _process(stack, migrated_database, infra)  # follows nothing
    heard_in_postgresql: list[str] = []
    spy = await asyncpg.connect(migrated_database)
    stack.push_async_callback(spy.close)
    await spy.add_listener(NOTIFY_CHANNEL, lambda *args: heard_in_postgresql.append(str(args[-1])))

    # A poll of a minute: only a wake-up brings the appends within the guard.
    pages = follow_pages(reader, poll_interval=60.0, wake_on={"ContractNoteTaken"})
    stack.push_async_callback(pages.aclose)
    first = asyncio.ensure_future(anext(pages))
    await asyncio.sleep(0.5)  # the follower has read the empty order and sleeps
    assert not first.done()
    await writer.append(stream(), NO_STREAM, [raw("ContractRawData", {})])
    await asyncio.sleep(0.5)
    assert not first.done()  # a type it does not wait for: read at its next poll
    await writer.append(stream(), NO_STREAM, notes("woken"))
    page = await asyncio.wait_for(first, HANG_GUARD)
    assert texts([event for event in page.events if event.type == "ContractNoteTaken"]) == ["woken"]

    # One LISTEN connection per process (store), none per follower.
    assert await _listening_sessions(reader, NOTIFY_CHANNEL, but=spy.get_server_pid()) == 3
    await spy.execute("SELECT 1")  # a round trip: a notification sent before it would have arrived
    assert heard_in_postgresql == []
    await idle.flush()  # a round trip: an announcement sent before it would have arrived
    assert idle.stats["in_msgs"] == 0  # a process without followers is not woken by appends


async def test_a_service_store_woken_over_nats_hears_erasures_on_a_listen_connection_of_its_own(
    migrated_database: str, infra: Infra, stack: AsyncExitStack
) -> None:
    settings = Settings(database_url=migrated_database, privacy_master_key=PRIVACY_MASTER_KEY)
    nc = await connect(infra.nats_url, "test-service")
    stack.push_async_callback(nc.close)
    service = await service_store(stack, settings, None, nats=nc, min_size=1, max_size=4)
    privacy = protect(service, settings)
    cli_store = await PostgresEventStore.connect(migrated_database, min_size=1, max_size=2)
    stack.push_async_callback(cli_store.close)
    cli = protect(cli_store, settings)  # erases, listens to nothing

    async def live() -> bool:
        return privacy.signal.live

    await eventually(live)  # no follower: the service listens for erasures all the same
    assert await _listening_sessions(service, "privacy_forgotten") == 1
    person = await privacy.people.key_for(PHONE)
    heard = privacy.signal.mark()
    erasure = await forget(cli_store, cli, None, PHONE, requested_by="cli", force=False, now=_now)
    assert (erasure.outcome, erasure.person_key) == (ErasureOutcome.FORGOTTEN, person)

    async def erasure_heard() -> bool:
        return privacy.signal.mark() != heard

    await eventually(erasure_heard)
    assert await privacy.people.find(PHONE) is None

    # The connection lost: nothing trusted, then it listens again by itself.
    await cli_store.pool.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query = 'LISTEN \"privacy_forgotten\"'"
    )

    async def deaf() -> bool:
        return not privacy.signal.live

    await eventually(deaf)
    await eventually(live)


async def test_an_append_of_a_process_without_nats_wakes_followers_through_the_one_listen_connection(
    migrated_database: str, infra: Infra, stack: AsyncExitStack
) -> None:
    reader, _ = await _process(stack, migrated_database, infra)
    command = await PostgresEventStore.connect(migrated_database, min_size=1, max_size=2)  # NOTIFYs, as today
    stack.push_async_callback(command.close)
    pages = follow_pages(reader, poll_interval=60.0)
    stack.push_async_callback(pages.aclose)

    async def listening() -> bool:
        return await _listening_sessions(command, NOTIFY_CHANNEL) == 1

    await eventually(listening)
    first = asyncio.ensure_future(anext(pages))
    await asyncio.sleep(0.5)
    assert not first.done()
    await command.append(stream(), NO_STREAM, notes("from a command"))
    page = await asyncio.wait_for(first, HANG_GUARD)
    assert texts(page.events) == ["from a command"]


async def test_a_process_hears_only_the_topics_its_followers_wake_on_each_announcement_once(
    migrated_database: str, infra: Infra, stack: AsyncExitStack
) -> None:
    writer, _ = await _process(stack, migrated_database, infra)
    sender, sender_nc = await _process(stack, migrated_database, infra)  # follows replies only
    both, both_nc = await _process(stack, migrated_database, infra)  # follows replies and everything
    followers = {
        "sender": follow_pages(sender, poll_interval=60.0, wake_on={ReplyQueued.TYPE}),
        "replies": follow_pages(both, poll_interval=60.0, wake_on={ReplyQueued.TYPE}),
        "everything": follow_pages(both, poll_interval=60.0),
    }
    for pages in followers.values():
        stack.push_async_callback(pages.aclose)
    pending = {name: asyncio.ensure_future(anext(pages)) for name, pages in followers.items()}
    await asyncio.sleep(0.5)  # each follower has read the empty order and sleeps, subscribed
    assert not any(next_page.done() for next_page in pending.values())

    await writer.append(stream(), NO_STREAM, [raw("ContractRawData", {})])
    page = await asyncio.wait_for(pending.pop("everything"), HANG_GUARD)
    assert [event.type for event in page.events] == ["ContractRawData"]
    await sender_nc.flush()  # a round trip: an announcement routed to it before would have arrived
    assert sender_nc.stats["in_msgs"] == 0  # its follower wakes on no type of that append's topics
    assert both_nc.stats["in_msgs"] == 1

    await writer.append(stream(), NO_STREAM, [raw(ReplyQueued.TYPE, {})])
    for name in ("sender", "replies"):
        page = await asyncio.wait_for(pending.pop(name), HANG_GUARD)
        assert [event.type for event in page.events][-1] == ReplyQueued.TYPE
    await both_nc.flush()
    assert sender_nc.stats["in_msgs"] == 1
    assert both_nc.stats["in_msgs"] == 2  # two followers, two filters that match: the announcement once
