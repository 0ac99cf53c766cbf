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
