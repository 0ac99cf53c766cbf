"""Timer commands from the closer: their wire format, how they are decided, and their JetStream consumers.

The closer publishes ``ExpireConversation`` / ``TimeoutOffer`` / ``FollowUpJob`` / ``CloseUnratedLead`` to
``conectapro.commands.p<n>`` with ``Nats-Msg-Id`` = the command id. Here each is decided on the customer's
stream exactly like an inbound message: load, fold, pure ``decide``, append with ``inbox_id`` = command id,
so a command delivered twice (a repeated tick, a redelivery) commits nothing the second time.

What the audit needs is recorded with the decision: every event's metadata carries the command itself
(``metadata.command``: its type and fields) and the technicians' directory position the decision saw
(``metadata.providers_checkpoint``), so ``conectapro audit`` can re-run it exactly. A command that decides
nothing (a stale timer) leaves only its inbox row: there is nothing to audit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import orjson
import structlog
from nats.js import JetStreamContext
from pydantic import ValidationError

from contracts.commands import CloseUnratedLead, ExpireConversation, FollowUpJob, TimeoutOffer
from contracts.events import Event, EventMetadata, NewEvent
from contracts.subjects import (
    COMMAND_TYPE_HEADER,
    COMMANDS_STREAM,
    DEADLETTER_COMMANDS,
    commands_partition_subject,
)
from eventstore import Checkpoint, ConcurrencyError, EventStore
from orchestrator import leads_flow
from orchestrator.consumer import OrderedStream, run_ordered_partitions
from orchestrator.domain.ids import event_ids_for
from orchestrator.domain.providers import ProviderView

log = structlog.get_logger("orchestrator")

TimerCommand = ExpireConversation | TimeoutOffer | FollowUpJob | CloseUnratedLead

#: Wire and metadata name → command class (the class name: stable, and readable in the timeline).
TIMER_COMMANDS: Mapping[str, type[TimerCommand]] = {
    cls.__name__: cls for cls in (ExpireConversation, TimeoutOffer, FollowUpJob, CloseUnratedLead)
}

#: Metadata keys the decisions of timer commands carry (EventMetadata allows extra keys).
COMMAND_METADATA_KEY = "command"
PROVIDERS_CHECKPOINT_KEY = "providers_checkpoint"

MAX_CONFLICT_RETRIES = 5


class UnknownCommand(ValueError):
    """A payload that is not one of the timer commands (parked in the dead-letter stream)."""


# ------------------------------------------------------------------------------------------- codec


def command_record(command: TimerCommand) -> dict[str, Any]:
    """The command as a JSON-able dict with its ``type``: the message body and ``metadata.command``."""
    return {"type": type(command).__name__, **command.model_dump(mode="json")}


def command_from_record(record: Mapping[str, Any]) -> TimerCommand:
    fields = dict(record)
    cls = TIMER_COMMANDS.get(str(fields.pop("type", "")))
    if cls is None:
        raise UnknownCommand(f"not a timer command: {record.get('type')!r}")
    return cls.model_validate(fields)


def encode_command(command: TimerCommand) -> bytes:
    return orjson.dumps(command_record(command))


def decode_command(data: bytes) -> TimerCommand:
    try:
        record = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise UnknownCommand(f"not JSON: {error}") from error
    if not isinstance(record, dict):
        raise UnknownCommand("not a JSON object")
    return command_from_record(record)


def command_headers(command: TimerCommand) -> dict[str, str]:
    # Nats-Msg-Id = command id: JetStream drops a second publish of the same timer within its window.
    return {"Nats-Msg-Id": command.command_id, COMMAND_TYPE_HEADER: type(command).__name__}


# ----------------------------------------------------------------------------------------- deciding


class ProvidersSource(Protocol):
    """What the decision needs of the technicians' directory (``ProviderDirectory`` is one)."""

    @property
    def views(self) -> Mapping[str, ProviderView]: ...

    @property
    def checkpoint(self) -> Checkpoint: ...


class CommandOutcome(StrEnum):
    DECIDED = "decided"
    #: Decided, but the lead had moved on: nothing to do (only the inbox row was written).
    STALE = "stale"
    DUPLICATE = "duplicate"


def decision_metadata(command: TimerCommand, *, now: datetime, providers_at: Checkpoint) -> EventMetadata:
    return EventMetadata.model_validate(
        {
            "correlation_id": command.command_id,
            "causation_id": command.command_id,
            "recorded_at": now,
            COMMAND_METADATA_KEY: command_record(command),
            PROVIDERS_CHECKPOINT_KEY: [providers_at.transaction_id, providers_at.global_position],
        }
    )


def to_new_events(events: Sequence[Event], metadata: EventMetadata, command_id: str) -> list[NewEvent]:
    ids = event_ids_for(command_id)
    return [NewEvent.from_event(event, event_id=ids(), metadata=metadata) for event in events]


class CommandHandler:
    def __init__(self, store: EventStore, providers: ProvidersSource, *, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._providers = providers
        self._clock = clock

    async def handle(self, command: TimerCommand) -> CommandOutcome:
        if await self._store.is_handled(command.command_id):
            return CommandOutcome.DUPLICATE
        for attempt in range(1, MAX_CONFLICT_RETRIES + 1):
            try:
                outcome = await self._decide(command)
            except ConcurrencyError as conflict:
                if attempt == MAX_CONFLICT_RETRIES:
                    raise  # the consumer naks it: JetStream redelivers later
                log.info("command_conflict_retrying", stream=conflict.stream_id, id=command.command_id)
                continue
            log.info("command_handled", type=type(command).__name__, id=command.command_id, outcome=outcome.value)
            return outcome
        raise AssertionError("unreachable")

    async def _decide(self, command: TimerCommand) -> CommandOutcome:
        stream_id = leads_flow.customer_stream_id(command.customer_key)
        recorded = await self._store.read_stream(stream_id)
        state = leads_flow.fold(event.to_event() for event in recorded)
        # Read both together: the checkpoint must name exactly the views the decision used.
        views, providers_at = self._providers.views, self._providers.checkpoint
        now = self._clock()
        events = leads_flow.decide(
            state, command, providers=views, now=now, new_ids=leads_flow.deterministic_ids(command.command_id)
        )
        metadata = decision_metadata(command, now=now, providers_at=providers_at)
        version = recorded[-1].stream_version if recorded else 0
        result = await self._store.append(
            stream_id, version, to_new_events(events, metadata, command.command_id), inbox_id=command.command_id
        )
        if result.already_handled:
            return CommandOutcome.DUPLICATE
        return CommandOutcome.DECIDED if events else CommandOutcome.STALE


# ---------------------------------------------------------------------------------------- consuming

Handle = Callable[[TimerCommand], Awaitable[object]]


COMMANDS: OrderedStream[TimerCommand] = OrderedStream(
    stream=COMMANDS_STREAM,
    consumer_prefix="orchestrator-commands",
    partition_subject=commands_partition_subject,
    dead_letter_subject=DEADLETTER_COMMANDS,
    parse=decode_command,
    parse_errors=(UnknownCommand, ValidationError),
    id_of=lambda command: command.command_id,
    noun="command",
)


def commands_consumer_name(partition: int) -> str:
    return COMMANDS.consumer_name(partition)


async def run_command_partitions(
    js: JetStreamContext, partitions: int, handle: Handle, stopping: asyncio.Event, *, ack_wait: float = 30.0
) -> None:
    """The closer's commands, consumed like inbound messages: in order per customer, retried, parked."""
    await run_ordered_partitions(js, COMMANDS, partitions, handle, stopping, ack_wait=ack_wait)
