"""`conectapro audit`: re-run every recorded decision from its recorded inputs and compare with the store.

A decision is the group of events one command appended to one stream: consecutive events of a stream
sharing ``metadata.correlation_id`` (the wamid or command id) in one transaction. For each group the audit

1. rebuilds the command from what was recorded — a customer's ``MessageReceived`` + ``IntentExtracted``
   (the understanding as recorded, so the LLM is never called), a technician's ``MessageReceived`` (the
   lead it is about is routed again, as the handler does), or the timer command the commands consumer
   stored in ``metadata.command``; an operator's provider event is turned back into its command;
2. folds the stream's state from the stored events before the group, and the technicians' views from the
   global order before it — or, when the decision recorded it (``metadata.providers_checkpoint``), from
   exactly the directory position the decision saw;
3. calls the pure ``decide`` with ``now = metadata.recorded_at`` and ``new_ids =
   deterministic_ids(correlation_id)``, and compares the events' types and data with the stored ones.

Events the sender writes (``ReplySent``, ``ReplyFailed``, ``ReplyDeliveryUpdated``) record what happened
outside, not decisions: they are folded, never re-decided. After a divergence the stored events are
folded (the rest of the stream is audited against what is stored); a stream whose stored events cannot be
read or folded any more is reported once and skipped from there on.

One pass over the global order audits every stream (``--all``): states and views stay in memory. The pass
can be split between processes by stream (``conectapro.audit_cli``): each folds the views from every event
that names a technician and audits its own streams.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson

from contracts.commands import (
    ActivateProvider,
    CustomerCommand,
    DeactivateProvider,
    HandleCustomerMessage,
    HandleTechnicianMessage,
    ProviderCommand,
    RegisterProvider,
    Understanding,
    UpdateProvider,
)
from contracts.events import Event, RecordedEvent, decode_event, upcast
from contracts.intent import UnderstandingSource
from contracts.lead_events import IntentExtracted, MessageReceived, SenderRole
from contracts.outbound import ReplyDeliveryUpdated, ReplyFailed, ReplyQueued, ReplySent
from contracts.provider_events import ProviderActivated, ProviderDeactivated, ProviderRegistered, ProviderUpdated
from eventstore import Checkpoint
from orchestrator import leads_flow
from orchestrator.commands_consumer import COMMAND_METADATA_KEY, PROVIDERS_CHECKPOINT_KEY, command_from_record
from orchestrator.domain.ids import CUSTOMER_STREAM_PREFIX, PROVIDER_STREAM_PREFIX
from orchestrator.domain.model import INITIAL_STATE, CustomerState
from orchestrator.domain.providers import ProviderView, apply_provider_event

#: Written by the sender and the status webhook: facts from outside, not decisions.
SENDER_TYPES = frozenset({ReplySent.TYPE, ReplyFailed.TYPE, ReplyDeliveryUpdated.TYPE})

#: Events that only advance a customer stream's version when folded (``orchestrator.domain.evolve`` has no
#: handler for them; a unit test holds this). Folding skips evolving them one by one: about half of what a
#: decision emits, and every sender event.
VERSION_ONLY_TYPES = SENDER_TYPES | {ReplyQueued.TYPE, IntentExtracted.TYPE}

#: How many past versions of the technicians' views are kept for ``metadata.providers_checkpoint``
#: (a directory trails the store by a moment, i.e. by far fewer changes than this).
VIEW_HISTORY = 10_000

_VALUE_CHARS = 160


class CannotRebuild(ValueError):
    """The recorded events do not say which command caused them."""


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

    def recorded(self) -> RecordedEvent:
        # Without validation: these come from the store, and only type and data are looked at.
        fields: dict[str, Any] = {
            "stream_id": self.stream_id,
            "stream_version": self.stream_version,
            "type": self.type,
            "schema_version": self.schema_version,
            "data": self.data,
            "global_position": self.global_position,
            "transaction_id": self.transaction_id,
        }
        return RecordedEvent.model_construct(**fields)


@dataclass(frozen=True, slots=True)
class Divergence:
    stream_id: str
    first_version: int
    last_version: int
    cause: str
    what: str
    recorded_at: str
    lines: tuple[str, ...]

    def render(self) -> str:
        head = (
            f"  v{self.first_version}–v{self.last_version} · {self.what} · caused by {self.cause} "
            f"· decided at {self.recorded_at}"
        )
        return "\n".join([head, *(f"      {line}" for line in self.lines)])


@dataclass
class AuditReport:
    events: int = 0
    decisions: int = 0
    streams: int = 0
    divergences: dict[str, list[Divergence]] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.divergences

    def merge(self, other: AuditReport) -> AuditReport:
        """Reports of disjoint sets of streams, as one."""
        divergences = {**self.divergences, **other.divergences}
        return AuditReport(
            events=self.events + other.events,
            decisions=self.decisions + other.decisions,
            streams=self.streams + other.streams,
            divergences=dict(sorted(divergences.items())),
        )

    def render(self) -> str:
        parts = []
        for stream_id, found in self.divergences.items():
            parts.append(f"DIVERGENT {stream_id} ({len(found)} decision{'s' if len(found) > 1 else ''}):")
            parts.extend(divergence.render() for divergence in found)
        return "\n".join(parts)


# ------------------------------------------------------------------------------------- comparing


class _Absent:
    """A field one side has and the other does not."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


def _short(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    text = orjson.dumps(value).decode()
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"


def field_differences(stored: Any, expected: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(dotted path, stored value, re-decided value) for every leaf that differs."""
    if isinstance(stored, dict) and isinstance(expected, dict):
        for key in sorted(stored.keys() | expected.keys()):
            child = f"{path}.{key}" if path else key
            yield from field_differences(stored.get(key, ABSENT), expected.get(key, ABSENT), child)
    elif isinstance(stored, list) and isinstance(expected, list) and len(stored) == len(expected):
        for index, (a, b) in enumerate(zip(stored, expected, strict=True)):
            yield from field_differences(a, b, f"{path}[{index}]")
    elif stored != expected:
        yield path, stored, expected


def compare(decided: Sequence[Event], stored: Sequence[StoredEvent]) -> list[str]:
    """Readable lines for every difference between re-decided and stored events (empty when identical)."""
    lines: list[str] = []
    for index in range(max(len(decided), len(stored))):
        if index >= len(decided):
            extra = stored[index]
            lines.append(f"v{extra.stream_version} {extra.type}: stored, but the decision does not produce it")
            continue
        event = decided[index]
        if index >= len(stored):
            lines.append(f"{event.TYPE}: the decision produces it, but it is not stored: {_short(_dump(event))}")
            continue
        row = stored[index]
        if row.type != event.TYPE:
            lines.append(f"v{row.stream_version}: stored {row.type}, the decision produces {event.TYPE}")
            continue
        actual, expected = upcast(row.type, row.schema_version, row.data), _dump(event)
        if actual != expected:
            lines.extend(
                f"v{row.stream_version} {row.type}.{path}: stored {_short(a)}, re-decided {_short(b)}"
                for path, a, b in field_differences(actual, expected)
            )
    return lines


def _dump(event: Event) -> dict[str, Any]:
    # The serializer itself: what model_dump(mode="json") calls, without its per-call Python overhead.
    dumped: dict[str, Any] = type(event).__pydantic_serializer__.to_python(event, mode="json")
    return dumped


# ------------------------------------------------------------------------------ rebuilding commands


def customer_command(
    stream_id: str, group: Sequence[StoredEvent], state: CustomerState, views: Mapping[str, ProviderView]
) -> CustomerCommand:
    """The command that caused ``group`` on a customer stream, from what was recorded."""
    first = group[0]
    if first.type == MessageReceived.TYPE:
        received = first.decoded()
        assert isinstance(received, MessageReceived)
        if received.role is SenderRole.CUSTOMER:
            return _customer_message(stream_id, received, group)
        return _technician_message(stream_id, received, state, views)
    record = first.metadata.get(COMMAND_METADATA_KEY)
    if isinstance(record, dict):
        return command_from_record(record)
    raise CannotRebuild(f"{first.type} is neither a recorded message nor a recorded command")


def _customer_message(stream_id: str, received: MessageReceived, group: Sequence[StoredEvent]) -> CustomerCommand:
    extracted = group[1].decoded() if len(group) > 1 else None
    if not isinstance(extracted, IntentExtracted) or extracted.wamid != received.wamid:
        raise CannotRebuild(f"message {received.wamid} has no recorded understanding (IntentExtracted)")
    return HandleCustomerMessage(
        command_id=received.wamid,
        customer_key=stream_id.removeprefix(CUSTOMER_STREAM_PREFIX),
        phone=received.phone,
        profile_name=received.profile_name,
        wamid=received.wamid,
        message_type=received.message_type,
        received_at=received.received_at,
        understanding=Understanding(
            intent=extracted.intent,
            source=extracted.source,
            text=received.text,
            reply_id=received.reply_id,
            raw_output=extracted.raw_output,
            model=extracted.model,
            prompt_version=extracted.prompt_version,
            latency_ms=extracted.latency_ms,
            tokens=extracted.tokens,
        ),
    )


def _technician_understanding(received: MessageReceived) -> Understanding:
    # Technicians' decisions read only the tapped id and the text, both recorded.
    source = UnderstandingSource.INTERACTIVE if received.reply_id else UnderstandingSource.RULES
    return Understanding(source=source, text=received.text, reply_id=received.reply_id)


def _technician_message(
    stream_id: str, received: MessageReceived, state: CustomerState, views: Mapping[str, ProviderView]
) -> CustomerCommand:
    provider_id = received.provider_id
    if provider_id is None:
        raise CannotRebuild(f"technician message {received.wamid} names no technician")
    # Routed again as the handler does; it routed here, so a lead of another stream means the views differ
    # from the handler's, and the stream's own lead is the one it must have meant.
    view = views.get(provider_id)
    lead_id = leads_flow.route_technician_message(view, received.reply_id, received.text) if view else None
    customer_key = stream_id.removeprefix(CUSTOMER_STREAM_PREFIX)
    if lead_id is None or leads_flow.customer_key_of_lead(lead_id) != customer_key:
        lead_id = state.lead.lead_id if state.lead is not None else None
    return HandleTechnicianMessage(
        command_id=received.wamid,
        provider_id=provider_id,
        lead_id=lead_id,
        phone=received.phone,
        wamid=received.wamid,
        message_type=received.message_type,
        received_at=received.received_at,
        understanding=_technician_understanding(received),
    )


def provider_command(event: Event, command_id: str) -> ProviderCommand:
    """The operator command behind a technician's registry event."""
    match event:
        case ProviderRegistered():
            fields = event.model_dump(include={"provider_id", "name", "phone", "services", "comunas", "capacity"})
            return RegisterProvider(command_id=command_id, active=event.active, **fields)
        case ProviderUpdated():
            fields = event.model_dump(include={"provider_id", "name", "phone", "services", "comunas", "capacity"})
            return UpdateProvider(command_id=command_id, **fields)
        case ProviderDeactivated():
            return DeactivateProvider(command_id=command_id, provider_id=event.provider_id, reason=event.reason)
        case ProviderActivated():
            return ActivateProvider(command_id=command_id, provider_id=event.provider_id)
    raise CannotRebuild(f"{event.TYPE} is not an operator's decision")


# -------------------------------------------------------------------------------------- the engine


def fold_fast(events: Sequence[Event], state: CustomerState) -> CustomerState:
    """``leads_flow.fold(events, state)``, with runs of version-only events folded in one step."""
    skipped = 0
    for event in events:
        if event.TYPE in VERSION_ONLY_TYPES:
            skipped += 1
            continue
        if skipped:
            state, skipped = replace(state, version=state.version + skipped), 0
        state = leads_flow.evolve(state, event)
    return replace(state, version=state.version + skipped) if skipped else state


class Auditor:
    """Feed it the global order (``feed``), then ``finish()`` for the report. Pure: no I/O, no clock.

    ``owns`` says which streams this auditor audits and counts (default: all); every event fed still
    updates the technicians' views, so a reader may leave out any event that names no technician
    (``data.provider_id``) of a stream it does not own.
    """

    def __init__(self, *, owns: Callable[[str], bool] | None = None) -> None:
        self._owns = owns
        self._report = AuditReport()
        self._states: dict[str, CustomerState] = {}
        self._audited: set[str] = set()
        self._broken: set[str] = set()
        self._views: Mapping[str, ProviderView] = {}
        self._history_at: list[Checkpoint] = [Checkpoint.START]
        self._history: list[Mapping[str, ProviderView]] = [{}]
        self._pending: list[StoredEvent] = []
        self._pending_key: tuple[int, str, str] | None = None

    def feed(self, events: Iterable[StoredEvent]) -> None:
        for event in events:
            key = (event.transaction_id, event.stream_id, event.correlation_id)
            if key != self._pending_key and self._pending:
                self._flush()
            self._pending_key = key
            self._pending.append(event)
            if self._owns is None or self._owns(event.stream_id):
                self._report.events += 1

    def finish(self) -> AuditReport:
        if self._pending:
            self._flush()
        self._report.streams = len(self._audited)
        return self._report

    # -------------------------------------------------------------------------------- one group

    def _flush(self) -> None:
        group, self._pending = self._pending, []
        stream_id = group[0].stream_id
        if (self._owns is None or self._owns(stream_id)) and stream_id not in self._broken:
            if stream_id.startswith(CUSTOMER_STREAM_PREFIX):
                self._audited.add(stream_id)
                self._customer_group(stream_id, group)
            elif stream_id.startswith(PROVIDER_STREAM_PREFIX):
                self._audited.add(stream_id)
                self._provider_group(stream_id, group)
        for event in group:
            # apply_provider_event ignores events without a technician: skip building those at all.
            if event.data.get("provider_id") is not None:
                self._apply_views(event)

    def _customer_group(self, stream_id: str, group: list[StoredEvent]) -> None:
        state = self._states.get(stream_id, INITIAL_STATE)
        decisions = [event for event in group if event.type not in SENDER_TYPES]
        if not decisions:
            # What the sender recorded only advances the version: no need to even decode it.
            self._states[stream_id] = replace(state, version=state.version + len(group))
            return
        self._report.decisions += 1
        first = group[0]
        what = first.type
        try:
            views = self._views_for(first)
            command = customer_command(stream_id, group, state, views)
            what = _describe(command)
            decided = leads_flow.decide(
                state,
                command,
                providers=views,
                now=first.recorded_at,
                new_ids=leads_flow.deterministic_ids(first.correlation_id),
            )
            lines = compare(decided, decisions)
        except Exception as error:  # anything re-deciding raises is a finding, not a crash of the audit
            lines = [f"cannot re-decide: {type(error).__name__}: {error}"]
            decided = []
        if lines:
            self._diverged(stream_id, group, what, lines)
            self._fold_stored(stream_id, state, group)
        elif len(decisions) == len(group):
            self._states[stream_id] = fold_fast(decided, state)
        else:
            self._fold_stored(stream_id, state, group)

    def _provider_group(self, stream_id: str, group: list[StoredEvent]) -> None:
        first = group[0]
        if first.type in SENDER_TYPES:
            return
        self._report.decisions += 1
        what = first.type
        try:
            views = self._views_for(first)
            event = first.decoded()
            if isinstance(event, MessageReceived):
                command = _unrouted_technician_message(event)
                what = _describe(command)
                provider = views.get(command.provider_id)
                if provider is None:
                    raise CannotRebuild(f"technician {command.provider_id} unknown at that point")
                decided = leads_flow.decide_unrouted_technician_message(
                    command, provider=provider, now=first.recorded_at,
                    new_ids=leads_flow.deterministic_ids(first.correlation_id),
                )  # fmt: skip
            else:
                operator = provider_command(event, first.correlation_id)
                what = _describe(operator)
                decided = leads_flow.decide_provider(operator, providers=views, now=first.recorded_at)
            lines = compare(decided, [e for e in group if e.type not in SENDER_TYPES])
        except Exception as error:
            lines = [f"cannot re-decide: {type(error).__name__}: {error}"]
        if lines:
            self._diverged(stream_id, group, what, lines)

    def _fold_stored(self, stream_id: str, state: CustomerState, group: Sequence[StoredEvent]) -> None:
        try:
            self._states[stream_id] = leads_flow.fold((event.decoded() for event in group), state)
        except Exception as error:
            first = group[0]
            self._diverged(stream_id, group, first.type, [f"stored events cannot be folded: {error}"])
            self._broken.add(stream_id)
            self._states.pop(stream_id, None)

    def _diverged(self, stream_id: str, group: Sequence[StoredEvent], what: str, lines: list[str]) -> None:
        first, last = group[0], group[-1]
        divergence = Divergence(
            stream_id=stream_id,
            first_version=first.stream_version,
            last_version=last.stream_version,
            cause=first.correlation_id or "(no correlation id)",
            what=what,
            recorded_at=str(first.metadata.get("recorded_at")),
            lines=tuple(lines),
        )
        self._report.divergences.setdefault(stream_id, []).append(divergence)

    # ----------------------------------------------------------------------------- technicians

    def _apply_views(self, event: StoredEvent) -> None:
        try:
            views = apply_provider_event(self._views, event.recorded())
        except Exception:
            return  # an unreadable event changes no view; its own stream's audit reports it
        if views is not self._views:
            self._views = views
            self._history_at.append(event.checkpoint)
            self._history.append(views)
            if len(self._history) > 2 * VIEW_HISTORY:
                del self._history_at[:VIEW_HISTORY], self._history[:VIEW_HISTORY]

    def _views_for(self, first: StoredEvent) -> Mapping[str, ProviderView]:
        """The views the decision saw: at its recorded directory position, else just before it."""
        at = first.metadata.get(PROVIDERS_CHECKPOINT_KEY)
        if not isinstance(at, list) or len(at) != 2:
            return self._views
        index = bisect.bisect_right(self._history_at, Checkpoint(int(at[0]), int(at[1]))) - 1
        return self._history[max(index, 0)]


def _unrouted_technician_message(received: MessageReceived) -> HandleTechnicianMessage:
    if received.provider_id is None:
        raise CannotRebuild(f"technician message {received.wamid} names no technician")
    return HandleTechnicianMessage(
        command_id=received.wamid,
        provider_id=received.provider_id,
        lead_id=None,
        phone=received.phone,
        wamid=received.wamid,
        message_type=received.message_type,
        received_at=received.received_at,
        understanding=_technician_understanding(received),
    )


def _describe(command: CustomerCommand | ProviderCommand) -> str:
    match command:
        case HandleCustomerMessage():
            return f"customer message ({command.understanding.source} understanding)"
        case HandleTechnicianMessage():
            return f"technician {command.provider_id}'s message"
    return f"{type(command).__name__} command"


def audit_events(events: Iterable[RecordedEvent], *, streams: Collection[str] | None = None) -> AuditReport:
    """Audit events given in global order (tests, in-memory stores); ``streams`` limits what is audited."""
    auditor = Auditor(owns=frozenset(streams).__contains__ if streams is not None else None)
    auditor.feed(StoredEvent.of(event) for event in events)
    return auditor.finish()
