"""A follower's LISTEN connection that PostgreSQL closes (a restart, a failover) is listened again, not fatal."""

from __future__ import annotations

import asyncio

import pytest

from eventstore import PostgresEventStore
from eventstore.notify import Wakeup

pytestmark = pytest.mark.integration


async def test_a_listen_connection_the_server_closed_is_replaced(migrated_database: str) -> None:
    store = await PostgresEventStore.connect(migrated_database, min_size=1, max_size=3)
    wakeup = Wakeup(store.pool)
    try:
        await wakeup.ensure()
        listening = await store.pool.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()"
        )
        await store.pool.execute("SELECT pg_terminate_backend($1)", listening)
        wakeup.event.clear()

        # asyncpg learns of the closed socket on a later turn of the loop: until then the old one looks alive.
        for _ in range(500):
            await wakeup.ensure()
            if wakeup.event.is_set():
                break
            await asyncio.sleep(0.01)

        assert wakeup.event.is_set(), "listening again, and looking at what it may have missed"
    finally:
        await wakeup.close()
        await store.close()


def _in_use(store: PostgresEventStore) -> int:
    return store.pool.get_size() - store.pool.get_idle_size()


async def test_a_follower_cancelled_while_it_starts_listening_gives_its_connection_back(migrated_database: str) -> None:
    """A service stopped just as its follower (re)starts — e.g. right after a checkpoint conflict — must not
    keep the LISTEN connection: closing the pool would wait for it forever."""
    store = await PostgresEventStore.connect(migrated_database, min_size=1, max_size=3)
    try:
        # Cancel after every number of loop turns up to well past a whole LISTEN round trip.
        for turns in range(60):
            pages = store.follow(poll_interval=30.0)
            reading = asyncio.ensure_future(anext(pages))
            for _ in range(turns):
                await asyncio.sleep(0)
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
            await pages.aclose()
            assert _in_use(store) == 0, f"a connection kept after a cancel {turns} loop turns in"
        await asyncio.wait_for(store.close(), timeout=30)
    finally:
        store.pool.terminate()
