"""The audit's view of one stored event: its raw data and the few metadata fields a decision recorded."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from contracts.events import Event, RecordedEvent, decode_event
from eventstore import Checkpoint
from orchestrator.commands_consumer import COMMAND_METADATA_KEY, PROVIDERS_CHECKPOINT_KEY


class StoredEvent(NamedTuple):
    """A stored event as the audit reads it, decoded only when needed.

    A tuple: the audit builds one per event it reads (over a hundred thousand per store), and a tuple is
    built several times faster than a frozen dataclass. Only the metadata the audit reads is kept, so its
    reader can select just that (``audit.runner``).
    """

    stream_id: str
    stream_version: int
    type: str
    schema_version: int
    data: dict[str, Any]
    transaction_id: int
    global_position: int
    #: ``metadata.correlation_id``: the wamid or command id that caused the event ("" if none).
    correlation_id: str
    #: ``metadata.recorded_at`` as stored (ISO 8601; "" if none): the decision's ``now``.
    recorded_at_text: str
    #: ``metadata.providers_checkpoint``: the directory position the decision saw, if recorded.
    providers_checkpoint: Any
    #: ``metadata.command``: the timer command the commands consumer decided, if any.
    command: Any

    @classmethod
    def of(cls, recorded: RecordedEvent) -> StoredEvent:
        metadata = recorded.metadata.model_dump(mode="json")
        return cls(
            recorded.stream_id,
            recorded.stream_version,
            recorded.type,
            recorded.schema_version,
            recorded.data,
            recorded.transaction_id,
            recorded.global_position,
            str(metadata.get("correlation_id") or ""),
            str(metadata.get("recorded_at") or ""),
            metadata.get(PROVIDERS_CHECKPOINT_KEY),
            metadata.get(COMMAND_METADATA_KEY),
        )

    @property
    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.transaction_id, self.global_position)

    @property
    def recorded_at(self) -> datetime:
        return datetime.fromisoformat(self.recorded_at_text)

    def decoded(self) -> Event:
        return decode_event(self.type, self.schema_version, self.data)
