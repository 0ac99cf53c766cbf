"""The audit's view of one stored event: raw data and metadata as read, decoded only when needed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.events import Event, RecordedEvent, decode_event
from eventstore import Checkpoint


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A stored event as the audit reads it: raw data and metadata, decoded only when needed."""

    stream_id: str
    stream_version: int
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    transaction_id: int
    global_position: int

    @classmethod
    def of(cls, recorded: RecordedEvent) -> StoredEvent:
        return cls(
            recorded.stream_id,
            recorded.stream_version,
            recorded.type,
            recorded.schema_version,
            recorded.data,
            recorded.metadata.model_dump(mode="json"),
            recorded.transaction_id,
            recorded.global_position,
        )

    @property
    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.transaction_id, self.global_position)

    @property
    def correlation_id(self) -> str:
        return str(self.metadata.get("correlation_id", ""))

    @property
    def recorded_at(self) -> datetime:
        return datetime.fromisoformat(self.metadata["recorded_at"])

    def decoded(self) -> Event:
        return decode_event(self.type, self.schema_version, self.data)
