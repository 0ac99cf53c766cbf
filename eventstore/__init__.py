"""The append-only event store: versioned streams, an idempotent inbox, a gap-safe global order.

Public API (see ``store.py`` for the contract, DESIGN.md "Event store (PostgreSQL)" for the why)::

    store = await PostgresEventStore.connect(dsn)          # or InMemoryEventStore() in unit tests
    await apply_migrations(dsn)                              # once per process start; idempotent
    result = await store.append("lead-1", NO_STREAM, [new_event], inbox_id="wamid.X")
    events = await store.read_stream("lead-1")
    batch = await store.read_all(Checkpoint.START, limit=1000)
    async for batch in store.follow(checkpoint): ...
    await store.subscribe("projection-x", handler).run()    # handler(conn, events) in the checkpoint's tx
"""

from typing import TYPE_CHECKING

from eventstore.checkpoint import (
    CheckpointConflict,
    load_checkpoint,
    load_checkpoints,
    save_checkpoint,
    save_checkpoints,
)
from eventstore.filtered import INDEX_WALK, FilteredRow, OrderFilter
from eventstore.memory import InMemoryEventStore
from eventstore.migrations import EVENTSTORE_SQL_DIR, MigrationError, apply_migrations
from eventstore.notify import NOTIFY_CHANNEL
from eventstore.pool import create_pool, init_connection
from eventstore.postgres import PostgresEventStore, stream_exists_sql
from eventstore.selection import Selection
from eventstore.store import (
    ANY_VERSION,
    NO_STREAM,
    AppendResult,
    Behind,
    Checkpoint,
    CompactEvent,
    ConcurrencyError,
    DuplicateEventError,
    EventStore,
    EventStoreError,
    SubscriptionHandler,
)
from eventstore.subscription import BatchHandler, Subscription, SubscriptionGroup, follow

__all__ = [
    "ANY_VERSION",
    "EVENTSTORE_SQL_DIR",
    "INDEX_WALK",
    "NOTIFY_CHANNEL",
    "NO_STREAM",
    "AppendResult",
    "BatchHandler",
    "Behind",
    "Checkpoint",
    "CheckpointConflict",
    "CompactEvent",
    "ConcurrencyError",
    "DuplicateEventError",
    "EventStore",
    "EventStoreError",
    "FilteredRow",
    "InMemoryEventStore",
    "MigrationError",
    "OrderFilter",
    "PostgresEventStore",
    "Selection",
    "Subscription",
    "SubscriptionGroup",
    "SubscriptionHandler",
    "apply_migrations",
    "create_pool",
    "follow",
    "init_connection",
    "load_checkpoint",
    "load_checkpoints",
    "save_checkpoint",
    "save_checkpoints",
    "stream_exists_sql",
]

if TYPE_CHECKING:
    # mypy proves both implementations honour the protocol.
    def _implements_the_protocol(pg: PostgresEventStore, memory: InMemoryEventStore) -> list[EventStore]:
        return [pg, memory]
