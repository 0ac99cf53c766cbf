"""The audit's view of one stored event: its raw data and the few metadata fields a decision recorded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from contracts.commands import TimerCommand, command_from_record, command_record
from contracts.events import Event, RecordedEvent, StorePosition, decode_event
from eventstore import Checkpoint


class StoredEvent(NamedTuple):
    """A stored event as the audit reads it, decoded only when needed.

    A tuple: the audit builds one per event it reads (the whole store), and a tuple is the cheapest object
    Python builds. Only the metadata the audit reads is kept (fields of ``contracts.events.EventMetadata``),
    so its reader can select just that (``audit.runner``).
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
    #: ``metadata.providers_checkpoint`` as stored: the directory position whose technicians' views the
    #: decision read, if recorded (``providers_at``).
    providers_checkpoint: Sequence[int] | None
    #: ``metadata.command`` as stored: the timer command the decision decided, if any (``timer_command``).
    command_record: Mapping[str, Any] | None

    @classmethod
    def of(cls, recorded: RecordedEvent) -> StoredEvent:
        metadata = recorded.metadata
        at, command = metadata.providers_checkpoint, metadata.command
        return cls(
            recorded.stream_id,
            recorded.stream_version,
            recorded.type,
            recorded.schema_version,
            recorded.data,
            recorded.transaction_id,
            recorded.global_position,
            metadata.correlation_id,
            metadata.model_dump(mode="json", include={"recorded_at"})["recorded_at"],
            list(at) if at is not None else None,
            command_record(command) if command is not None else None,
        )

    @property
    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.transaction_id, self.global_position)

    # Both read only when a decision needs them (the first event of each), and raise when what is stored is
    # not what EventMetadata stores.

    def providers_at(self) -> Checkpoint | None:
        """Where the technicians' directory stood when the decision read their views, if recorded."""
        if self.providers_checkpoint is None:
            return None
        transaction_id, global_position = StorePosition._make(self.providers_checkpoint)
        return Checkpoint(transaction_id, global_position)

    def timer_command(self) -> TimerCommand | None:
        """The timer command the decision decided, if it recorded one."""
        return command_from_record(self.command_record) if self.command_record is not None else None

    @property
    def recorded_at(self) -> datetime:
        return datetime.fromisoformat(self.recorded_at_text)

    def decoded(self) -> Event:
        return decode_event(self.type, self.schema_version, self.data)
