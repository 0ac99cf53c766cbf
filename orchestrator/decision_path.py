"""The one path a decision takes to the store: load the state, decide, build the events' metadata, append
with the inbox id, retry on a version conflict.

Every writer of decisions goes through it: the inbound handler (customers' and technicians' messages), the
timer-command consumer and the operator actions on technicians. A decision's cause (the message or command
id) is its inbox id, its events' correlation id and the seed of their ids, so a cause delivered twice
commits nothing the second time. Its events' metadata also record what ``audit`` needs to re-decide it
exactly and its events do not hold: the technicians' directory position whose views it read and, for a
timer, the command itself.

A version conflict means another writer appended to the stream first: the state is loaded and the command
decided again, up to ``MAX_ATTEMPTS`` times; then the conflict is raised (a consumer naks the message and
JetStream redelivers it later).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

import structlog

from contracts.commands import (
    CustomerCommand,
    HandleTechnicianMessage,
    ProviderCommand,
    TimerCommand,
)
from contracts.events import Event, EventMetadata, NewEvent, StorePosition
from contracts.personal import as_recorded
from eventstore import ANY_VERSION, AppendResult, Checkpoint, ConcurrencyError, EventStore
from infra.telemetry import current_ids
from orchestrator import leads_flow
from orchestrator.domain.ids import event_ids_for
from orchestrator.domain.model import CustomerState
from orchestrator.domain.providers import ProviderView
from orchestrator.state_cache import CustomerStateCache

log = structlog.get_logger("orchestrator")

MAX_ATTEMPTS = 5

Clock = Callable[[], datetime]

#: Builds a decision's command from the state it is decided on (a customer's message is understood in the
#: light of the question pending), again after a conflict.
CommandFor = Callable[[CustomerState], Awaitable[CustomerCommand]]


class Appender(Protocol):
    """Where decisions are appended: the store itself, or a :class:`eventstore.group_commit.GroupCommit` over
    it (decisions taken at the same moment then share a transaction)."""

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[NewEvent], inbox_id: str | None = None
    ) -> AppendResult: ...


class ProvidersSource(Protocol):
    """The technicians' directory as decisions read it (``ProviderDirectory`` is one)."""

    @property
    def views(self) -> Mapping[str, ProviderView]: ...

    @property
    def checkpoint(self) -> Checkpoint: ...

    async def catch_up(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Appended:
    """What became of a decision."""

    #: Events appended (0: the decision produced none, and only its inbox row was written).
    events: int
    #: The inbox already held the cause: it was decided before, and nothing was written now.
    duplicate: bool = False
    #: Where the last event written sits in the global order (None when none was written now).
    checkpoint: Checkpoint | None = None


def given(command: CustomerCommand) -> CommandFor:
    """A command that does not depend on the state (a timer, a routed technician's message)."""

    async def the_command(_: CustomerState) -> CustomerCommand:
        return command

    return the_command


def to_new_events(
    events: Sequence[Event],
    *,
    cause: str,
    now: datetime,
    ids: Callable[[], UUID],
    providers_at: Checkpoint | None = None,
    command: TimerCommand | None = None,
) -> list[NewEvent]:
    """``events`` ready to append, with the metadata of their cause (one metadata object for them all)."""
    # The span deciding them: the sender continues this trace from the events it reads.
    trace_id, span_id = current_ids()
    metadata = EventMetadata(
        correlation_id=cause,
        causation_id=cause,
        trace_id=trace_id,
        span_id=span_id,
        recorded_at=now,
        providers_checkpoint=(
            StorePosition(providers_at.transaction_id, providers_at.global_position)
            if providers_at is not None
            else None
        ),
        command=as_recorded(command) if command is not None else None,
    )
    return [NewEvent.from_event(event, event_id=ids(), metadata=metadata) for event in events]


def _timer(command: CustomerCommand) -> TimerCommand | None:
    # A message is recorded by the events it causes; a timer only in its decision's metadata.
    return command if isinstance(command, TimerCommand) else None


class DecisionPath:
    """Decides commands and appends their events; one per writer, holding a cache of customer states."""

    def __init__(
        self,
        store: EventStore,
        providers: ProvidersSource,
        *,
        clock: Clock,
        attempts: int = MAX_ATTEMPTS,
        appender: Appender | None = None,
        facts: Appender | None = None,
    ) -> None:
        """``facts``: where :meth:`record` appends (``appender`` unless given; facts nobody waits on may
        wait there to share a transaction)."""
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {attempts}")
        self._store = store
        self._appender: Appender = appender or store
        self._facts: Appender = facts or self._appender
        self._providers = providers
        self._clock = clock
        self._attempts = attempts
        self._states = CustomerStateCache(store)

    async def on_customer_stream(self, stream_id: str, cause: str, command_for: CommandFor) -> Appended:
        """Decide ``command_for``'s command on the customer's stream ``stream_id`` in its current state."""

        async def attempt() -> Appended:
            return await self._customer_decision(stream_id, cause, command_for)

        return await self._retrying(cause, attempt)

    async def on_provider_stream(self, command: ProviderCommand) -> Appended:
        """An operator's command on a technician, decided on the directory caught up with the store."""
        stream_id = leads_flow.provider_stream_id(command.provider_id)

        async def attempt() -> Appended:
            # The version first: the views caught up after it include every event it counts.
            version = await self._store.stream_version(stream_id)
            await self._providers.catch_up()
            now = self._clock()
            views, providers_at = self._providers.views, self._providers.checkpoint
            events = leads_flow.decide_provider(command, providers=views, now=now)
            return await self._append(stream_id, version, events, command.command_id, now, providers_at)

        return await self._retrying(command.command_id, attempt)

    async def unrouted_technician_message(self, command: HandleTechnicianMessage) -> Appended:
        """A technician's message tied to no lead, decided on the technician's own stream (no state there to
        expect a version of: it is appended after whatever the stream holds)."""
        now = self._clock()
        views, providers_at = self._providers.views, self._providers.checkpoint
        events = leads_flow.decide_unrouted_technician_message(
            command,
            provider=views[command.provider_id],
            now=now,
            new_ids=leads_flow.deterministic_ids(command.command_id),
        )
        stream_id = leads_flow.provider_stream_id(command.provider_id)
        return await self._append(stream_id, ANY_VERSION, events, command.command_id, now, providers_at)

    async def record(self, stream_id: str, events: Sequence[Event], *, cause: str, now: datetime) -> Appended:
        """Facts from outside (delivery statuses, account errors), not decisions: appended after whatever the
        stream holds, with the cause as inbox id (only the inbox row when there is no event)."""
        return await self._append(stream_id, ANY_VERSION, events, cause, now, appender=self._facts)

    # ------------------------------------------------------------------------------------- inside

    async def _customer_decision(self, stream_id: str, cause: str, command_for: CommandFor) -> Appended:
        state = await self._states.load(stream_id)
        command = await command_for(state)
        now = self._clock()
        # Read together, with no await between: the position names exactly the views decided on.
        views, providers_at = self._providers.views, self._providers.checkpoint
        events, after = leads_flow.decide_with_state(
            state, command, providers=views, now=now, new_ids=leads_flow.deterministic_ids(cause)
        )
        try:
            appended = await self._append(stream_id, state.version, events, cause, now, providers_at, _timer(command))
        except ConcurrencyError:
            self._states.forget(stream_id)
            raise
        if appended.duplicate:
            self._states.forget(stream_id)  # decided elsewhere: our state is not the stream's
        else:
            # The decision's folded state is the stream's now (folding the events again would redo its work).
            self._states.appended(stream_id, after)
        return appended

    async def _append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[Event],
        cause: str,
        now: datetime,
        providers_at: Checkpoint | None = None,
        command: TimerCommand | None = None,
        *,
        appender: Appender | None = None,
    ) -> Appended:
        new_events = to_new_events(
            events, cause=cause, now=now, ids=event_ids_for(cause), providers_at=providers_at, command=command
        )
        result = await (appender or self._appender).append(stream_id, expected_version, new_events, cause)
        if result.already_handled:
            return Appended(0, duplicate=True)
        return Appended(len(new_events), checkpoint=result.checkpoint)

    async def _retrying(self, cause: str, attempt: Callable[[], Awaitable[Appended]]) -> Appended:
        for n in range(1, self._attempts + 1):
            try:
                return await attempt()
            except ConcurrencyError as conflict:
                if n == self._attempts:
                    raise
                log.info("append_conflict_retrying", stream=conflict.stream_id, id=cause, attempt=n)
        raise AssertionError("unreachable")
