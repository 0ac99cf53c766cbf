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
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import nats.errors
import orjson
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from contracts.commands import CloseUnratedLead, ExpireConversation, FollowUpJob, TimeoutOffer
from contracts.events import Event, EventMetadata, NewEvent
from contracts.subjects import (
    COMMAND_TYPE_HEADER,
    COMMANDS_STREAM,
    DEADLETTER_COMMANDS,
    REASON_HEADER,
    commands_partition_subject,
)
from eventstore import Checkpoint, ConcurrencyError, EventStore
from orchestrator import leads_flow
from orchestrator.consumer import MAX_DELIVERIES, backoff_for
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
    ids = leads_flow.deterministic_ids(f"{command_id}/events")  # the handler's scheme: reproducible ids
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


def commands_consumer_name(partition: int) -> str:
    return f"orchestrator-commands-p{partition}"


def commands_consumer_config(partition: int, ack_wait: float) -> ConsumerConfig:
    # One at a time per partition (max_ack_pending=1), as for inbound messages: a customer's timers are
    # decided in publishing order, and we count deliveries and dead-letter ourselves.
    return ConsumerConfig(
        durable_name=commands_consumer_name(partition),
        filter_subject=commands_partition_subject(partition),
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_ack_pending=1,
        max_deliver=-1,
    )


class CommandPartitionConsumer:
    def __init__(
        self, js: JetStreamContext, partition: int, handle: Handle, stopping: asyncio.Event, ack_wait: float
    ) -> None:
        self._js = js
        self._partition = partition
        self._handle = handle
        self._stopping = stopping
        self._ack_wait = ack_wait

    async def run(self) -> None:
        await self._js.add_consumer(COMMANDS_STREAM, commands_consumer_config(self._partition, self._ack_wait))
        subscription = await self._js.pull_subscribe_bind(
            durable=commands_consumer_name(self._partition), stream=COMMANDS_STREAM
        )
        while not self._stopping.is_set():
            try:
                messages = await subscription.fetch(batch=1, timeout=1.0)
            except nats.errors.TimeoutError:
                continue
            except (nats.errors.Error, OSError) as error:
                log.warning("commands_fetch_failed", partition=self._partition, error=repr(error))
                await asyncio.sleep(1.0)
                continue
            for message in messages:
                await self._process(message)

    async def _process(self, message: Msg) -> None:
        try:
            command = decode_command(message.data)
        except (UnknownCommand, ValidationError) as error:
            await self._dead_letter(message, f"unparseable command: {error}")
            return
        delivery = message.metadata.num_delivered or 1
        try:
            await self._handle(command)
        except Exception as error:
            if delivery >= MAX_DELIVERIES:
                log.error("command_failed_permanently", id=command.command_id, error=repr(error), delivery=delivery)
                await self._dead_letter(message, f"failed {delivery} times: {error!r}")
                return
            delay = backoff_for(delivery)
            log.warning("command_failed_will_retry", id=command.command_id, error=repr(error), delay=delay)
            await message.nak(delay=delay)
            return
        await message.ack()

    async def _dead_letter(self, message: Msg, reason: str) -> None:
        sequence = message.metadata.sequence.stream if message.metadata.sequence else 0
        headers = {
            REASON_HEADER: reason[:1000],
            "Conectapro-Original-Subject": message.subject,
            "Nats-Msg-Id": f"orchestrator:{COMMANDS_STREAM}:{sequence}",
        }
        try:
            await self._js.publish(DEADLETTER_COMMANDS, message.data, headers=headers, timeout=5.0)
        except (nats.errors.Error, TimeoutError) as error:
            log.error("command_dead_letter_failed", error=repr(error), sequence=sequence)
            with contextlib.suppress(nats.errors.Error):
                await message.nak(delay=backoff_for(MAX_DELIVERIES))
            return
        log.error("command_dead_lettered", sequence=sequence, reason=reason[:200])
        await message.ack()


async def run_command_partitions(
    js: JetStreamContext, partitions: int, handle: Handle, stopping: asyncio.Event, *, ack_wait: float = 30.0
) -> None:
    consumers = [CommandPartitionConsumer(js, p, handle, stopping, ack_wait) for p in range(partitions)]
    await asyncio.gather(*(consumer.run() for consumer in consumers))
