"""What every event store promises: the ``EventStore`` protocol, its value types and its typed errors.

Two implementations honour it — :class:`eventstore.postgres.PostgresEventStore` and
:class:`eventstore.memory.InMemoryEventStore` — and one contract suite (``tests/eventstore_contract.py``)
runs against both, so a unit test on the in-memory store says something true about production.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, NamedTuple, Protocol

from contracts.events import NewEvent, RecordedEvent
from eventstore.filtered import FilteredRow, OrderFilter
from eventstore.selection import Selection

# ``expected_version`` is the stream version the caller saw: 0 for a stream that does not exist yet.
NO_STREAM: Final = 0
# For streams where the order of writers does not matter (e.g. a registry): no version check, the
# store takes the next free versions. Writers still never overwrite each other.
ANY_VERSION: Final = -1


@dataclass(frozen=True, order=True, slots=True)
class Checkpoint:
    """A place in the gap-safe global order: compare as the pair (transaction_id, global_position).

    Global positions alone are not safe to checkpoint: a transaction that commits late can hold a lower
    position than events already read. Transaction ids below the snapshot's xmin are final, so reading in
    (transaction_id, global_position) order below that horizon never skips an event.
    """

    transaction_id: int = 0
    global_position: int = 0

    START: ClassVar[Checkpoint]

    @classmethod
    def of(cls, event: RecordedEvent) -> Checkpoint:
        return cls(event.transaction_id, event.global_position)


Checkpoint.START = Checkpoint(0, 0)


class OrderPage(NamedTuple):
    """A follower's read of the global order (:meth:`EventStore.read_order`)."""

    #: The events after the checkpoint that are final, in gap-safe order (what ``read_all`` returns); with
    #: a selection, only the selected ones.
    events: list[RecordedEvent]
    #: Committed events after those wait behind an older open transaction: look again soon.
    pending: bool
    #: Where the next read starts: the last final event read, selected or not.
    until: Checkpoint = Checkpoint.START
    #: The page was full of final events: more may be there already.
    more: bool = False


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append did.

    ``stream_version`` is the stream's version after the append; when ``already_handled`` it is the version
    recorded when that inbox id was first handled, and nothing was written this time. ``checkpoint`` is the
    place of the last event written (None when no event was written).
    """

    stream_id: str
    stream_version: int
    checkpoint: Checkpoint | None = None
    already_handled: bool = False


class CompactEvent(NamedTuple):
    """An event of the global order as a bulk reader (a rebuild) wants it: ``data`` left as its JSON text,
    and only for the types asked for (None for the others), ``recorded_at`` as ISO text."""

    type: str
    schema_version: int
    data: str | None
    recorded_at: str
    stream_id: str
    stream_version: int
    global_position: int
    transaction_id: int


@dataclass(frozen=True, slots=True)
class Behind:
    """How far a reader at some checkpoint trails the store: events after it (counted up to a cap), and
    how long the oldest of them has been waiting, in seconds (0 when none)."""

    events: int
    seconds: float


# The handler of a subscription: ``handler(transaction, events)`` runs inside the transaction that also
# stores the consumer's checkpoint (an asyncpg connection on PostgreSQL; None in memory, where nothing but
# the checkpoint is transactional).
SubscriptionHandler = Callable[[Any, Sequence[RecordedEvent]], Awaitable[None]]


class Runnable(Protocol):
    async def run(self) -> None:
        """Follow the global order until cancelled."""
        ...


class EventStoreError(Exception):
    """Base class of the event store's own errors."""


class ConcurrencyError(EventStoreError):
    """Another writer appended to the stream since the caller read it: reload, decide again, retry."""

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(f"stream {stream_id!r}: expected version {expected}, actual version {actual}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class DuplicateEventError(EventStoreError):
    """An event id is already stored: event ids are unique across the whole store."""

    def __init__(self, stream_id: str, detail: str = "") -> None:
        super().__init__(f"stream {stream_id!r}: an event id is already stored {detail}".rstrip())
        self.stream_id = stream_id


class EventStore(Protocol):
    """Append-only, versioned event streams plus a gap-safe global order."""

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        inbox_id: str | None = None,
    ) -> AppendResult:
        """Append ``events`` atomically after ``expected_version`` (or :data:`ANY_VERSION`).

        Raises :class:`ConcurrencyError` when the stream is at another version. With ``inbox_id`` the
        append happens at most once: a repeat commits nothing and returns ``already_handled=True``
        (checked before the version, so a redelivered message never looks like a conflict). An empty
        ``events`` with an ``inbox_id`` records the message as handled without writing events.
        """
        ...

    async def read_stream(
        self, stream_id: str, from_version: int = 1, limit: int | None = None
    ) -> list[RecordedEvent]:
        """The stream's events from ``from_version`` on (at most ``limit``), in version order."""
        ...

    async def read_streams(
        self, stream_ids: Collection[str], *, types: Collection[str] | None = None
    ) -> dict[str, list[RecordedEvent]]:
        """Every event of each stream (only ``types`` when given), in version order; one read for all.
        Streams without such events are absent from the result."""
        ...

    async def stream_version(self, stream_id: str) -> int:
        """The stream's current version; 0 when it has no events."""
        ...

    async def is_handled(self, inbox_id: str) -> bool:
        """Whether an append with this inbox id has committed (lets a consumer skip work early)."""
        ...

    async def read_all(self, after: Checkpoint = Checkpoint.START, limit: int = 1000) -> list[RecordedEvent]:
        """Up to ``limit`` committed events after ``after`` in gap-safe global order."""
        ...

    async def read_all_compact(
        self, after: Checkpoint, limit: int, decode_types: Collection[str]
    ) -> list[CompactEvent]:
        """:meth:`read_all` for bulk readers: :class:`CompactEvent` rows, data only for ``decode_types``."""
        ...

    async def read_order(self, after: Checkpoint, limit: int, only: Selection | None = None) -> OrderPage:
        """The next ``limit`` events after ``after`` in gap-safe global order as a follower reads them: of
        those, the ones ``only`` selects (all without it), where to read on, and whether more may wait."""
        ...

    async def has_pending(self, after: Checkpoint) -> bool:
        """Whether events after ``after`` exist that :meth:`read_all` cannot return yet (not final)."""
        ...

    async def horizon(self) -> int:
        """The transaction id below which the global order is final now: a fixed end for a long read."""
        ...

    async def count(self, below: int | None = None) -> int:
        """Events in the store (of transactions below the horizon ``below``, when given)."""
        ...

    async def behind(self, after: Checkpoint, max_counted: int) -> Behind:
        """How far a reader at ``after`` trails: see :class:`Behind` (committed or not yet final alike)."""
        ...

    async def read_filtered(
        self, query: OrderFilter, after: tuple[int, int], horizon: int, limit: int
    ) -> list[FilteredRow]:
        """The next ``limit`` rows of ``query`` (see :class:`eventstore.filtered.OrderFilter`) after the place
        ``(transaction_id, global_position)``, below ``horizon``, in global order."""
        ...

    async def count_filtered(self, query: OrderFilter, horizon: int) -> tuple[int, int]:
        """Below ``horizon``: the owned events ``query`` keeps, and every event."""
        ...

    async def load_checkpoint(self, consumer: str) -> Checkpoint:
        """A consumer's stored checkpoint; :attr:`Checkpoint.START` for one never seen."""
        ...

    async def load_checkpoints(self, consumers: Sequence[str]) -> dict[str, Checkpoint]:
        """:meth:`load_checkpoint` of several consumers at once."""
        ...

    def subscribe(
        self, consumer: str, handler: SubscriptionHandler, *, batch_size: int = 500, poll_interval: float = 1.0
    ) -> Runnable:
        """A durable consumer: ``await sub.run()`` calls ``handler(transaction, events)`` for each batch,
        in the transaction that also stores the consumer's checkpoint. If the handler raises, the checkpoint
        does not move and the error propagates (the batch is delivered again on the next run)."""
        ...

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
        """Batches of events after ``after`` in global order, forever: waits for new ones when caught up.

        ``min_interval``: at least that long between two reads (a follower that may trail by that much
        reads fewer, larger batches under load). ``wake_on``: only appends of these types wake it at once
        (others wait for the next poll); the batches still hold every event. ``only``: the batches hold
        only the selected events (``eventstore.selection``).

        Close it (``contextlib.aclosing``) when done: the PostgreSQL one holds a LISTEN connection.
        """
        ...
