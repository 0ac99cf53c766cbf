"""What a projector sees of a stored event: the decoded payload plus where and when it was recorded.

Both the live runner (``RecordedEvent``s from a subscription) and the rebuild (raw rows, decoded without
building a ``RecordedEvent`` each, for speed) produce the same pairs, so both run the very same projectors.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from contracts.events import Event, RecordedEvent


class EventContext(NamedTuple):
    """Where an event sits. A NamedTuple: a rebuild makes one per event, and it is the cheapest to build."""

    stream_id: str
    stream_version: int
    global_position: int
    #: The decision's clock (``metadata.recorded_at``), not the database's commit time: a rebuild then
    #: reproduces the same timestamps as the live projection.
    recorded_at: datetime


Item = tuple[Event, EventContext]


def context_of(recorded: RecordedEvent) -> EventContext:
    return EventContext(
        recorded.stream_id, recorded.stream_version, recorded.global_position, recorded.metadata.recorded_at
    )


def decode_recorded(events: Iterable[RecordedEvent], types: frozenset[str]) -> list[Item]:
    """The events of interest, decoded (upcast on read); the others are not even parsed."""
    return [(recorded.to_event(), context_of(recorded)) for recorded in events if recorded.type in types]
