"""A process of its own, as far as the event store's wake-ups go: a store woken over a NATS connection."""

from __future__ import annotations

from contextlib import AsyncExitStack

from nats.aio.client import Client as NATS

from eventstore import PostgresEventStore
from infra.jetstream import connect
from infra.wakeups import wake_over_nats


async def woken_process(
    stack: AsyncExitStack, database: str, nats_url: str, name: str = "test-process"
) -> tuple[PostgresEventStore, NATS]:
    """A store woken over a NATS connection of its own, as ``infra.runtime.event_store`` wires a service's."""
    nc = await connect(nats_url, name)
    stack.push_async_callback(nc.close)
    store = await PostgresEventStore.connect(database, min_size=1, max_size=4)
    stack.push_async_callback(store.close)
    await wake_over_nats(stack, store, nc)
    return store, nc
