"""Timer commands from the closer: their wire format, how they are decided, and their JetStream consumers.

The closer publishes ``ExpireConversation`` / ``TimeoutOffer`` / ``FollowUpJob`` / ``CloseUnratedLead`` to
``conectapro.commands.p<n>`` with ``Nats-Msg-Id`` = the command id. Here each is decided on the customer's
stream exactly like an inbound message: load, fold, pure ``decide``, append with ``inbox_id`` = command id,
so a command delivered twice (a repeated tick, a redelivery) commits nothing the second time.

Each is decided through the one decision path (``orchestrator.decision_path``), which records what the
audit needs with the decision: every event's metadata carries the command itself (``metadata.command``)
and the technicians' directory position the decision saw (``metadata.providers_checkpoint``), so
``conectapro audit`` can re-run it exactly. A command that decides nothing (a stale timer) leaves only its
inbox row: there is nothing to audit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum

import orjson
import structlog
from nats.js import JetStreamContext
from pydantic import ValidationError

from contracts.commands import TimerCommand, UnknownCommand, command_from_record, command_record
from contracts.subjects import (
    COMMAND_TYPE_HEADER,
    COMMANDS_STREAM,
    DEADLETTER_COMMANDS,
    commands_partition_subject,
)
from eventstore import EventStore
from orchestrator import leads_flow
from orchestrator.consumer import OrderedStream, run_ordered_partitions
from orchestrator.decision_path import Appender, DecisionPath, ProvidersSource, given

log = structlog.get_logger("orchestrator")

# ------------------------------------------------------------------------------------------- codec


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


class CommandOutcome(StrEnum):
    DECIDED = "decided"
    #: Decided, but the lead had moved on: nothing to do (only the inbox row was written).
    STALE = "stale"
    DUPLICATE = "duplicate"


class CommandHandler:
    def __init__(
        self,
        store: EventStore,
        providers: ProvidersSource,
        *,
        clock: Callable[[], datetime],
        appender: Appender | None = None,
    ) -> None:
        self._store = store
        self._decisions = DecisionPath(store, providers, clock=clock, appender=appender)

    async def handle(self, command: TimerCommand) -> CommandOutcome:
        # Timers repeat (every tick until published, redeliveries): one query spares loading the stream.
        if await self._store.is_handled(command.command_id):
            return CommandOutcome.DUPLICATE
        stream_id = leads_flow.customer_stream_id(command.customer_key)
        appended = await self._decisions.on_customer_stream(stream_id, command.command_id, given(command))
        if appended.duplicate:
            outcome = CommandOutcome.DUPLICATE
        else:
            outcome = CommandOutcome.DECIDED if appended.events else CommandOutcome.STALE
        log.info("command_handled", type=type(command).__name__, id=command.command_id, outcome=outcome.value)
        return outcome


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
