"""The PostgreSQL event store: one round trip per append, gap-safe reads of the global order.

An append is a single call of the ``eventstore_append`` SQL function (``sql/0001_events.sql``) in
autocommit: inbox row, version check and events commit together without a client-side BEGIN/COMMIT round
trip and without locking the table; followers are woken by a NOTIFY sent once it has committed
(``notify.py`` explains why not inside it), or by announcements made elsewhere (:meth:`announce_over`).
The unique index on (stream_id, stream_version) is the last guard against two writers racing for the same
version; its violation becomes a :class:`ConcurrencyError`.
"""

from __future__ import annotations

import asyncio
import functools
from collections import defaultdict
from collections.abc import AsyncGenerator, Collection, Sequence
from typing import Any, NamedTuple

import asyncpg
import orjson
import structlog

from contracts.events import EventMetadata, NewEvent, RecordedEvent
from eventstore.checkpoint import load_checkpoint, load_checkpoints
from eventstore.codec import Along, EventCodec
from eventstore.filtered import FilteredRow, OrderFilter
from eventstore.notify import Announcements, HeardWakeup, Notifier, Wakeup
from eventstore.pool import AnyConnection, create_pool
from eventstore.selection import Selection
from eventstore.store import (
    ANY_VERSION,
    AppendResult,
    Behind,
    Checkpoint,
    CompactEvent,
    ConcurrencyError,
    DuplicateEventError,
    OrderPage,
)
from eventstore.subscription import BatchHandler, Subscription, follow

log = structlog.get_logger(__name__)

#: How long closing waits for connections still in use before it cuts them (a stopping service must stop).
CLOSE_PATIENCE = 30.0

_APPEND = "SELECT * FROM eventstore_append($1, $2, $3, $4, $5, $6, $7, $8, $9)"

# The same append announcing itself at commit, in its own transaction (no second one for the NOTIFY), with
# the payload the Notifier would send ($10: the types appended). Only when this process has no other append
# or NOTIFY under way (``eventstore.notify`` says why notifying appends must not run side by side).
_APPEND_NOTIFYING = """
SELECT a.outcome, a.stream_version, a.transaction_id, a.global_position,
       CASE WHEN a.global_position IS NOT NULL THEN pg_notify('events', $10)::text END
FROM eventstore_append($1, $2, $3, $4, $5, $6, $7, $8, $9) a
"""

# metadata as text: pydantic validates EventMetadata straight from JSON, no intermediate dict (faster).
_COLUMNS = (
    "event_id, stream_id, stream_version, type, schema_version, data, metadata::text, global_position, transaction_id"
)

_READ_STREAM = f"""
SELECT {_COLUMNS} FROM events
WHERE stream_id = $1 AND stream_version >= $2
ORDER BY stream_version
LIMIT $3
"""

_READ_STREAMS = f"""
SELECT {_COLUMNS} FROM events
WHERE stream_id = ANY($1::text[]) AND ($2::text[] IS NULL OR type = ANY($2::text[]))
ORDER BY stream_id, stream_version
"""

_STREAM_VERSION = "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1"


def stream_exists_sql(placeholder: str) -> str:
    """SQL that is true when the stream named by ``placeholder`` (``$3``) has events: for a statement on
    another table that must know in the same round trip (``privacy.people``)."""
    return f"EXISTS (SELECT 1 FROM events WHERE stream_id = {placeholder})"


# Only transactions below the snapshot's xmin are final: anything at or above it may still commit with a
# lower global_position than what we return, so it waits for a later read.
_READ_ALL = f"""
SELECT {_COLUMNS} FROM events
WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, global_position
LIMIT $3
"""

# A follower's read: the next rows of the order whether final or not, each saying whether it is final. The
# final ones come first (the order is by transaction id), so they are exactly what _READ_ALL returns, and a
# row that is not final tells, in the same round trip, that more waits behind an older open transaction.
# Without the horizon in the WHERE clause the plan is always a walk of the order's index (an EXISTS over the
# rows above the horizon may be planned as a scan of the table, which finds nothing and so reads it all).
_READ_ORDER = f"""
SELECT {_COLUMNS}, transaction_id < pg_snapshot_xmin(pg_current_snapshot())
FROM events
WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
ORDER BY transaction_id, global_position
LIMIT $3
"""

# _READ_ORDER for a follower with a selection ($4 the types or NULL, $5 a stream id prefix or NULL): the same
# rows in the same walk of the index, but only selected rows carry their data and metadata (the others
# tell their place in the order, so the follower moves past them). The last column says which are selected.
_READ_ORDER_SELECTED = """
SELECT event_id, stream_id, stream_version, type, schema_version,
       CASE WHEN sel.selected THEN data END, CASE WHEN sel.selected THEN metadata::text END,
       global_position, transaction_id, transaction_id < pg_snapshot_xmin(pg_current_snapshot()), sel.selected
FROM events
CROSS JOIN LATERAL (
    SELECT ($4::text[] IS NULL OR type = ANY($4::text[])) AND ($5::text IS NULL OR starts_with(stream_id, $5::text))
        AS selected
) sel
WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
ORDER BY transaction_id, global_position
LIMIT $3
"""

# Committed or not, is anything after the checkpoint still above the horizon? Then a reader should look
# again soon instead of sleeping a whole poll interval.
_PENDING = """
SELECT EXISTS (
    SELECT 1 FROM events
    WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
      AND transaction_id >= pg_snapshot_xmin(pg_current_snapshot())
)
"""

# The gap-safe order of _READ_ALL; the data of types the reader does not decode stays unsent.
_READ_ALL_COMPACT = """
SELECT type, schema_version, CASE WHEN type = ANY($4::text[]) THEN data::text END, metadata->>'recorded_at',
       stream_id, stream_version, global_position, transaction_id
FROM events
WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, global_position
LIMIT $3
"""

_HORIZON = "SELECT pg_snapshot_xmin(pg_current_snapshot())"

_COUNT = "SELECT count(*) FROM events WHERE $1::xid8 IS NULL OR transaction_id < $1::xid8"

# Events after the checkpoint in the gap-safe order, and how long the oldest of them has been waiting
# (database clock on both sides, so client clock skew does not enter).
_BEHIND = """
SELECT count(*), coalesce(extract(epoch FROM now() - min(recorded_at)), 0)::float8
FROM (
    SELECT recorded_at FROM events
    WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
    ORDER BY transaction_id, global_position
    LIMIT $3
) behind
"""


class Append(NamedTuple):
    """One append of :meth:`PostgresEventStore.append_many`."""

    stream_id: str
    expected_version: int
    events: Sequence[NewEvent]
    inbox_id: str | None = None


def _append_args(
    stream_id: str,
    expected_version: int,
    events: Sequence[NewEvent],
    inbox_id: str | None,
    *,
    notify: bool,
    datas: list[dict[str, Any]] | None = None,
) -> tuple[object, ...]:
    """The parameters of one ``eventstore_append`` call; ``datas``: the events' data as stored, when the codec
    changed it."""
    return (
        stream_id,
        expected_version,
        inbox_id,
        [event.event_id for event in events],
        [event.type for event in events],
        [event.schema_version for event in events],
        [event.data for event in events] if datas is None else datas,
        [event.metadata.model_dump(mode="json") for event in events],
        notify,
    )


@functools.cache
def _with_along(read: str, along: str, parameter: int) -> str:
    """A read selecting ``along`` (``eventstore.codec.Along``) as its last column, its parameter ``$parameter``."""
    return read.replace(f"SELECT {_COLUMNS} FROM", f"SELECT {_COLUMNS}, {along.format(f'${parameter}')} FROM", 1)


@functools.cache
def _append_many_sql(count: int, notify: bool = False) -> str:
    # One statement: the calls run in order, each seeing what the ones before it wrote (an inbox id or a
    # stream appended twice in one statement behaves as in two appends), and they commit together.
    calls = " UNION ALL ".join(
        f"SELECT {n} AS n, * FROM eventstore_append({', '.join(f'${9 * n + k}' for k in range(1, 10))})"
        for n in range(count)
    )
    if not notify:
        return calls
    # With ``notify`` the group announces itself at its commit (the payload is the last parameter): no
    # transaction of its own for the NOTIFY, as a lone append (_APPEND_NOTIFYING). Its row comes last.
    return f"{calls} UNION ALL SELECT {count}, NULL, NULL, NULL, NULL FROM pg_notify('events', ${9 * count + 1})"


# How often an ANY_VERSION append tries when other writers keep taking the next version first.
_ANY_VERSION_ATTEMPTS = 5


# Rows are built into envelopes without validating them again: the schema already guarantees every
# envelope field (column types, NOT NULL, stream_version >= 1, data a JSON object), and validation is most
# of read_all's client CPU (`make bench`). This is what ``model_construct`` does, minus its per-field Python
# loop (slower than validating). Only metadata, free-form jsonb, is validated — straight from its JSON text.
# Kept inside record_to_event; tests/integration/test_eventstore_postgres.py checks it equals a validated
# RecordedEvent.
_metadata_from_json = EventMetadata.model_validate_json
_new_event = RecordedEvent.__new__
_set = object.__setattr__
_FIELDS = frozenset(RecordedEvent.model_fields)
# Shared by every envelope read: all fields are always set, the model is frozen (no setattr adds to it) and
# model_copy copies it before updating. One set less per event is fewer objects to build and to trace.
_ALL_FIELDS_SET = set(_FIELDS)
_COLUMN_NAMES = [name.split("::")[0].strip() for name in _COLUMNS.split(",")]
if set(_COLUMN_NAMES) != _FIELDS:  # the envelope changed: record_to_event must follow
    raise ImportError(f"RecordedEvent fields {sorted(_FIELDS)} differ from the columns read {_COLUMN_NAMES}")


def record_to_event(row: asyncpg.Record) -> RecordedEvent:
    """A row selected with ``_COLUMNS`` as an event envelope, as stored (upcasting is ``to_event()``'s job)."""
    event = _new_event(RecordedEvent)
    _set(event, "__dict__", {
        "event_id": row[0],
        "stream_id": row[1],
        "stream_version": row[2],
        "type": row[3],
        "schema_version": row[4],
        "data": row[5],
        "metadata": _metadata_from_json(row[6]),
        "global_position": row[7],
        "transaction_id": row[8],
    })
    _set(event, "__pydantic_fields_set__", _ALL_FIELDS_SET)
    _set(event, "__pydantic_extra__", None)
    _set(event, "__pydantic_private__", None)
    return event


class PostgresEventStore:
    """The :class:`eventstore.store.EventStore` on PostgreSQL, over a pool made by :func:`create_pool`."""

    def __init__(self, pool: asyncpg.Pool[Any], codec: EventCodec | None = None) -> None:
        self.pool = pool
        #: Applied to ``data`` on every append and read (``eventstore/codec.py``); None: stored as given.
        self.codec = codec
        self._notifier = Notifier(pool)
        self._owns_pool = False
        #: Autocommit appends under way (an append alone may NOTIFY in its own transaction).
        self._appending = 0
        self._announcements: Announcements | None = None

    def announce_over(self, announcements: Announcements) -> None:
        """Announce appends through ``announcements`` once committed, and wake followers from them: nothing
        NOTIFYs or LISTENs in PostgreSQL any more (``eventstore.notify`` says why that is cheaper)."""
        self._announcements = announcements
        self._notifier.announce_with(announcements.announce)

    def wakeup(self, types: Collection[str] | None = None) -> Wakeup | HeardWakeup:
        """A follower's wake-up on appends of ``types`` (None: of any)."""
        if self._announcements is not None:
            return HeardWakeup(self._announcements, types)
        return Wakeup(self.pool, types=types)

    def announce_committed(self, types: Collection[str]) -> None:
        """Wake followers about appends of ``types`` made on a caller's connection, once it has committed
        (they NOTIFY at commit themselves unless appends are announced elsewhere)."""
        if self._announcements is not None:
            self._notifier.poke(types)

    def notify_unhurried(self, types: Collection[str]) -> None:
        """Appends of only these types (records no follower waits for at once) wake followers up to 0.25 s
        late, in fewer NOTIFYs (``eventstore.notify``)."""
        self._notifier.unhurried(types)

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        min_size: int = 2,
        max_size: int = 10,
        reset_sessions: bool = True,
        server_settings: dict[str, str] | None = None,
        codec: EventCodec | None = None,
    ) -> PostgresEventStore:
        """A store with a pool of its own (closed by :meth:`close`); ``reset_sessions``: see ``create_pool``;
        ``server_settings``: of every connection (e.g. :data:`eventstore.filtered.INDEX_WALK`)."""
        pool = await create_pool(
            dsn, min_size=min_size, max_size=max_size, reset_sessions=reset_sessions, server_settings=server_settings
        )
        store = cls(pool, codec)
        store._owns_pool = True
        return store

    async def close(self) -> None:
        await self._notifier.flush()
        if self._owns_pool:
            try:
                await asyncio.wait_for(self.pool.close(), CLOSE_PATIENCE)
            except TimeoutError:
                in_use = self.pool.get_size() - self.pool.get_idle_size()
                log.error("eventstore_pool_close_forced", connections_in_use=in_use, waited_seconds=CLOSE_PATIENCE)
                self.pool.terminate()

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        inbox_id: str | None = None,
        *,
        connection: AnyConnection | None = None,
    ) -> AppendResult:
        """See :meth:`eventstore.store.EventStore.append`.

        With ``connection`` the append runs on it, inside whatever transaction the caller has open there:
        it then commits (and NOTIFYs) with the caller's other writes, and an ANY_VERSION append that loses
        a race is not retried (the caller's transaction is aborted by then).
        """
        if expected_version < ANY_VERSION:
            raise ValueError(f"expected_version must be >= 0 or ANY_VERSION, not {expected_version}")
        datas = None
        if self.codec is not None:
            await self.codec.prepare((stream_id,))
            datas = self._sealed(stream_id, events)
        # In the caller's transaction only that transaction can NOTIFY at commit (else announce_committed).
        in_transaction = connection is not None and self._announcements is None
        args = _append_args(stream_id, expected_version, events, inbox_id, notify=in_transaction, datas=datas)
        executor = connection if connection is not None else self.pool
        retries = _ANY_VERSION_ATTEMPTS - 1 if expected_version == ANY_VERSION and connection is None else 0
        types = {event.type for event in events}
        sql = _APPEND
        if connection is None and self._appending == 0 and (payload := self._notifier.take_along(types)) is not None:
            sql, args = _APPEND_NOTIFYING, (*args, payload)
        if connection is None:
            self._appending += 1
        written = False
        try:
            while True:
                try:
                    row = await executor.fetchrow(sql, *args)
                    break
                except asyncpg.UniqueViolationError as error:
                    if error.constraint_name == "events_event_id_key":
                        raise DuplicateEventError(stream_id, error.detail or "") from error
                    if retries > 0:
                        retries -= 1  # ANY_VERSION lost a race for the next version: take the new next one
                        continue
                    # Another writer committed this version after our check: the unique index caught it.
                    actual = await self.stream_version(stream_id)
                    raise ConcurrencyError(stream_id, expected_version, actual) from error
            written = row is not None and row[3] is not None
        finally:
            if connection is None:
                self._appending -= 1
            if sql is _APPEND_NOTIFYING and not written:
                self._notifier.poke(payload.split(",") if payload else ())  # nothing announced: the pokes taken along
        assert row is not None
        outcome, version, transaction_id, position = row[:4]
        if outcome == "conflict":
            raise ConcurrencyError(stream_id, expected_version, version)
        if outcome == "handled":
            return AppendResult(stream_id, version, already_handled=True)
        if position is None:
            return AppendResult(stream_id, version)
        if connection is None and sql is _APPEND:
            self._notifier.poke(types)  # committed: wake followers
        return AppendResult(stream_id, version, Checkpoint(transaction_id, position))

    def _sealed(self, stream_id: str, events: Sequence[NewEvent]) -> list[dict[str, Any]]:
        """The data of ``events`` as the codec stores it (after its ``prepare``)."""
        codec = self.codec
        assert codec is not None
        return [codec.seal(stream_id, event.type, event.data) for event in events]

    async def append_many(self, appends: Sequence[Append]) -> list[AppendResult | ConcurrencyError]:
        """Several appends in one statement: one round trip, one transaction. Each keeps its meaning (inbox
        id, expected version): a version conflict is returned in its place, nothing written for it, the
        others written. Any other failure (a race for the next version of an ANY_VERSION stream, a duplicate
        event id) raises, and nothing is written: the caller makes them again one by one."""
        args: list[object] = []
        if self.codec is not None:
            await self.codec.prepare({append.stream_id for append in appends})
        for append in appends:
            if append.expected_version < ANY_VERSION:
                raise ValueError(f"expected_version must be >= 0 or ANY_VERSION, not {append.expected_version}")
            datas = None if self.codec is None else self._sealed(append.stream_id, append.events)
            args.extend(_append_args(*append, notify=False, datas=datas))
        # Like a lone append, a group made while this process has no other append under way may NOTIFY in
        # its own transaction (it announces even a group that wrote nothing: a wake-up too many is harmless).
        appended = {event.type for append in appends for event in append.events}
        payload = self._notifier.take_along(appended) if self._appending == 0 else None
        if payload is not None:
            args.append(payload)
        self._appending += 1
        try:
            rows = sorted(await self.pool.fetch(_append_many_sql(len(appends), payload is not None), *args))
        except BaseException:
            if payload is not None:
                self._notifier.poke(payload.split(",") if payload else ())  # nothing announced: the pokes taken along
            raise
        finally:
            self._appending -= 1
        rows = rows[: len(appends)]
        results: list[AppendResult | ConcurrencyError] = []
        types: set[str] = set()
        for append, (_, outcome, version, transaction_id, position) in zip(appends, rows, strict=True):
            if outcome == "conflict":
                results.append(ConcurrencyError(append.stream_id, append.expected_version, version))
            elif outcome == "handled":
                results.append(AppendResult(append.stream_id, version, already_handled=True))
            elif position is None:
                results.append(AppendResult(append.stream_id, version))
            else:
                types.update(event.type for event in append.events)
                results.append(AppendResult(append.stream_id, version, Checkpoint(transaction_id, position)))
        if types and payload is None:
            self._notifier.poke(types)  # committed: wake followers
        return results

    async def read_stream(
        self, stream_id: str, from_version: int = 1, limit: int | None = None
    ) -> list[RecordedEvent]:
        along = None if self.codec is None else self.codec.along((stream_id,))
        if along is None:
            rows = await self.pool.fetch(_READ_STREAM, stream_id, from_version, limit)
            return await self._opened([record_to_event(row) for row in rows])
        rows = await self.pool.fetch(_with_along(_READ_STREAM, along.sql, 4), stream_id, from_version, limit, along.arg)
        return self._opened_along(rows, along)

    async def read_streams(
        self,
        stream_ids: Collection[str],
        *,
        types: Collection[str] | None = None,
        connection: AnyConnection | None = None,
    ) -> dict[str, list[RecordedEvent]]:
        """See :meth:`eventstore.store.EventStore.read_streams`; with ``connection``, read on it (e.g. in a
        subscription handler's transaction, without taking a second connection)."""
        streams: dict[str, list[RecordedEvent]] = defaultdict(list)
        kinds = None if types is None else list(types)
        executor = connection if connection is not None else self.pool
        along = None if self.codec is None else self.codec.along(stream_ids)
        if along is None:
            rows = await executor.fetch(_READ_STREAMS, list(stream_ids), kinds)
            events = await self._opened([record_to_event(row) for row in rows])
        else:
            rows = await executor.fetch(_with_along(_READ_STREAMS, along.sql, 3), list(stream_ids), kinds, along.arg)
            events = self._opened_along(rows, along)
        for event in events:
            streams[event.stream_id].append(event)
        return dict(streams)

    def _opened_along(self, rows: list[asyncpg.Record], along: Along) -> list[RecordedEvent]:
        """The events of rows read with ``along``'s column, opened with what it fetched."""
        codec = self.codec
        assert codec is not None
        events = [record_to_event(row) for row in rows]
        if rows:
            along.take(rows[0][-1])
        for event in events:
            if codec.is_sealed(event.data):
                event.__dict__["data"] = codec.open(event.stream_id, event.type, event.data)
        return events

    async def _opened(self, events: list[RecordedEvent]) -> list[RecordedEvent]:
        """``events`` with their data opened by the codec (the envelopes are fresh: opened in place)."""
        codec = self.codec
        if codec is None:
            return events
        sealed = [event for event in events if codec.is_sealed(event.data)]
        if sealed:
            await codec.prepare({event.stream_id for event in sealed})
            for event in sealed:
                event.__dict__["data"] = codec.open(event.stream_id, event.type, event.data)
        return events

    async def stream_version(self, stream_id: str) -> int:
        version = await self.pool.fetchval(_STREAM_VERSION, stream_id)
        return int(version)

    async def is_handled(self, inbox_id: str) -> bool:
        found = await self.pool.fetchval("SELECT EXISTS (SELECT 1 FROM inbox WHERE message_id = $1)", inbox_id)
        return bool(found)

    async def read_all(self, after: Checkpoint = Checkpoint.START, limit: int = 1000) -> list[RecordedEvent]:
        rows = await self.pool.fetch(_READ_ALL, after.transaction_id, after.global_position, limit)
        return await self._opened([record_to_event(row) for row in rows])

    async def read_order(self, after: Checkpoint, limit: int, only: Selection | None = None) -> OrderPage:
        """``read_all`` and ``has_pending`` in one round trip; ``pending`` is only known to be false when
        the page is short (a full page: read on anyway). With ``only``, of the ``limit`` events read only
        the selected ones are returned (and opened): see ``eventstore.selection``."""
        if only is None:
            rows = await self.pool.fetch(_READ_ORDER, after.transaction_id, after.global_position, limit)
        else:
            rows = await self.pool.fetch(
                _READ_ORDER_SELECTED, after.transaction_id, after.global_position, limit, *only.sql_args()
            )
        final = len(rows)
        for index, row in enumerate(rows):
            if not row[9]:
                final = index
                break
        until = Checkpoint(rows[final - 1][8], rows[final - 1][7]) if final else after
        chosen = rows[:final] if only is None else [row for row in rows[:final] if row[10]]
        events = await self._opened([record_to_event(row) for row in chosen])
        return OrderPage(events, final < len(rows), until, final == limit)

    async def read_all_compact(
        self, after: Checkpoint, limit: int, decode_types: Collection[str]
    ) -> list[CompactEvent]:
        rows = await self.pool.fetch(
            _READ_ALL_COMPACT, after.transaction_id, after.global_position, limit, list(decode_types)
        )
        make = CompactEvent._make
        compact = [make(row) for row in rows]
        codec = self.codec
        if codec is None:
            return compact
        sealed = [i for i, event in enumerate(compact) if event.data is not None and codec.is_sealed_text(event.data)]
        if sealed:
            await codec.prepare({compact[i].stream_id for i in sealed})
            for i in sealed:
                event = compact[i]
                assert event.data is not None
                data = codec.open(event.stream_id, event.type, orjson.loads(event.data))
                compact[i] = event._replace(data=orjson.dumps(data).decode())
        return compact

    async def has_pending(self, after: Checkpoint) -> bool:
        found = await self.pool.fetchval(_PENDING, after.transaction_id, after.global_position)
        return bool(found)

    async def horizon(self) -> int:
        return int(await self.pool.fetchval(_HORIZON))

    async def count(self, below: int | None = None) -> int:
        return int(await self.pool.fetchval(_COUNT, below))

    async def behind(self, after: Checkpoint, max_counted: int) -> Behind:
        row = await self.pool.fetchrow(_BEHIND, after.transaction_id, after.global_position, max_counted)
        assert row is not None  # an aggregate always returns a row
        return Behind(int(row[0]), max(float(row[1]), 0.0))

    async def read_filtered(
        self, query: OrderFilter, after: tuple[int, int], horizon: int, limit: int
    ) -> list[FilteredRow]:
        rows = await self.pool.fetch(query.page_sql(), after[0], after[1], horizon, limit, *query.owned_args())
        codec = self.codec
        if codec is None:
            return list(rows)
        sealed = [i for i, row in enumerate(rows) if codec.is_sealed(row[4])]
        if not sealed:
            return list(rows)
        page: list[FilteredRow] = list(rows)
        await codec.prepare({rows[i][0] for i in sealed})
        for i in sealed:
            row = tuple(rows[i])
            page[i] = (*row[:4], codec.open(row[0], row[2], row[4]), *row[5:])
        return page

    async def count_filtered(self, query: OrderFilter, horizon: int) -> tuple[int, int]:
        row = await self.pool.fetchrow(query.count_sql(), horizon, *query.owned_args())
        assert row is not None  # an aggregate always returns a row
        return int(row[0]), int(row[1])

    async def load_checkpoint(self, consumer: str) -> Checkpoint:
        return await load_checkpoint(self.pool, consumer)

    async def load_checkpoints(self, consumers: Sequence[str]) -> dict[str, Checkpoint]:
        return await load_checkpoints(self.pool, consumers)

    def follow(
        self,
        after: Checkpoint = Checkpoint.START,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        min_interval: float = 0.0,
        wake_on: Collection[str] | None = None,
        only: Selection | None = None,
    ) -> AsyncGenerator[list[RecordedEvent], None]:
        return follow(
            self, after,
            batch_size=batch_size, poll_interval=poll_interval, min_interval=min_interval, wake_on=wake_on,
            only=only,
        )  # fmt: skip

    def subscribe(
        self,
        consumer: str,
        handler: BatchHandler,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        listen: bool = True,
        min_interval: float = 0.0,
        wake_on: Collection[str] | None = None,
        only: Selection | None = None,
    ) -> Subscription:
        """A durable consumer: ``await sub.run()`` calls ``handler(conn, events)`` inside the transaction
        that also stores its checkpoint (see :class:`eventstore.subscription.Subscription`)."""
        return Subscription(
            self, consumer, handler,
            batch_size=batch_size, poll_interval=poll_interval, listen=listen, min_interval=min_interval,
            wake_on=wake_on, only=only,
        )  # fmt: skip
