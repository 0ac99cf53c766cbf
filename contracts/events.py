"""Event envelope, event payload base class and the registry of event types with upcasting.

Every event type is a frozen pydantic model subclassing :class:`Event` with a past-tense ``TYPE`` and a
``SCHEMA_VERSION``; subclasses register themselves. Stored events are read back through
:func:`decode_event`, which first applies the upcasters registered for older schema versions: old events
are upcast on read, never rewritten.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar, NamedTuple
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from contracts.commands import TimerCommand, command_from_record, command_record


class Event(BaseModel):
    """Base class of every event payload (the envelope's ``data``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TYPE: ClassVar[str] = ""
    SCHEMA_VERSION: ClassVar[int] = 1

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.TYPE:
            register_event_type(cls)


class StorePosition(NamedTuple):
    """A place in the event store's gap-safe global order (stored as ``[transaction_id, global_position]``)."""

    transaction_id: int
    global_position: int


def _timer_command(value: object) -> object:
    # Stored as its record ({"type": ..., **fields}); a command given as an object passes as it is.
    return command_from_record(value) if isinstance(value, Mapping) else value


#: A timer command as a decision records it: its record (``contracts.commands.command_record``).
RecordedTimerCommand = Annotated[TimerCommand, BeforeValidator(_timer_command), PlainSerializer(command_record)]


def _absent(value: object) -> bool:
    return value is None


class EventMetadata(BaseModel):
    """Why an event exists: the message or command that caused it, when it was recorded, and what else the
    decision read that its events do not hold (the audit re-decides from exactly these).

    Unknown keys are kept as they are (``extra``): metadata is read back as it was written, never rewritten.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    correlation_id: str
    causation_id: str | None = None
    trace_id: str | None = None
    #: The span that recorded the event (hex), so that a reader continues its trace as that span's child.
    span_id: str | None = Field(default=None, exclude_if=_absent)
    recorded_at: datetime
    #: Where the technicians' directory stood when the decision read their views. Absent (not written) on
    #: events no decision on those views produced: facts from outside, the sender's records.
    providers_checkpoint: StorePosition | None = Field(default=None, exclude_if=_absent)
    #: The timer command the decision decided (a message is recorded as events of its own).
    command: RecordedTimerCommand | None = Field(default=None, exclude_if=_absent)


class NewEvent(BaseModel):
    """An event about to be appended: the store assigns the stream version and global position."""

    model_config = ConfigDict(frozen=True)

    event_id: UUID
    type: str
    schema_version: int = 1
    data: dict[str, Any]
    metadata: EventMetadata

    @classmethod
    def from_event(cls, event: Event, *, event_id: UUID, metadata: EventMetadata) -> NewEvent:
        return cls(
            event_id=event_id,
            type=event.TYPE,
            schema_version=event.SCHEMA_VERSION,
            data=event.model_dump(mode="json"),
            metadata=metadata,
        )


class RecordedEvent(BaseModel):
    """An event as stored: the envelope of DESIGN.md plus its place in the global order."""

    model_config = ConfigDict(frozen=True)

    event_id: UUID
    stream_id: str
    stream_version: int = Field(ge=1)
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: EventMetadata
    global_position: int
    transaction_id: int = 0

    def to_event(self) -> Event:
        return decode_event(self.type, self.schema_version, self.data)


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

_EVENT_TYPES: dict[str, type[Event]] = {}
# (type, from_version) -> function producing the data of version from_version + 1
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class UnknownEventType(LookupError):
    """A stored event whose type no code registers: a deployment error, never silently skipped."""


def register_event_type(cls: type[Event]) -> None:
    existing = _EVENT_TYPES.get(cls.TYPE)
    if existing is not None and existing is not cls and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"event type {cls.TYPE!r} registered twice ({existing!r}, {cls!r})")
    _EVENT_TYPES[cls.TYPE] = cls


def register_upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register how to turn ``data`` of ``from_version`` into ``from_version + 1``."""

    def decorator(fn: Upcaster) -> Upcaster:
        _UPCASTERS[(event_type, from_version)] = fn
        return fn

    return decorator


def event_types() -> Mapping[str, type[Event]]:
    return dict(_EVENT_TYPES)


def upcast(event_type: str, schema_version: int, data: dict[str, Any]) -> dict[str, Any]:
    cls = _EVENT_TYPES.get(event_type)
    if cls is None:
        raise UnknownEventType(event_type)
    version = schema_version
    while version < cls.SCHEMA_VERSION:
        step = _UPCASTERS.get((event_type, version))
        if step is None:
            raise UnknownEventType(f"{event_type}: no upcaster from version {version}")
        data = step(data)
        version += 1
    return data


def decode_event(event_type: str, schema_version: int, data: dict[str, Any]) -> Event:
    cls = _EVENT_TYPES.get(event_type)
    if cls is None:
        raise UnknownEventType(event_type)
    return cls.model_validate(upcast(event_type, schema_version, data))
