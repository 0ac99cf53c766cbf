"""`conectapro audit`: re-run every recorded decision from its recorded inputs and compare with the store.

A decision is the group of events one command appended to one stream: consecutive events of a stream
sharing ``metadata.correlation_id`` (the wamid or command id) in one transaction. For each group the audit

1. rebuilds the command from what was recorded (``audit.commands``; the LLM is never called);
2. takes the stream's state as folded from the stored events before the group, and the technicians' views
   from the global order before it — or, when the decision recorded it (``metadata.providers_checkpoint``),
   from exactly the directory position the decision saw. When the audit no longer holds the views at that
   position (it keeps the last ``VIEW_HISTORY`` versions), the decision is not re-decided on other views:
   the report says so, a finding of its own (``ViewsUnknown``), and the stored events are folded;
3. calls the pure ``decide`` with ``now = metadata.recorded_at`` and ``new_ids =
   deterministic_ids(correlation_id)``, and compares the events' types and data with the stored ones
   (``audit.compare``).

When they are identical, the state the decision folded its own events into is the stream's next state
(``decide_with_state``): the stored events are the decided ones, so they are not folded a second time.

Events the sender writes (``ReplySent``, ``ReplyFailed``, ``ReplyDeliveryUpdated``) record what happened
outside, not decisions: they change nothing in a stream's state but its version, so they are never
re-decided nor even decoded, and a reader may leave them out (``SENDER_TYPES``); a state's version is
taken from the stored ``stream_version`` before each decision. After a divergence the stored events are
folded (the rest of the stream is audited against what is stored); a stream whose stored events cannot be
read or folded any more is reported once and skipped from there on.

One pass over the global order audits every stream (``--all``): states and views stay in memory. The pass
can be split between processes by stream (``audit.runner``): each folds the views from every event
that names a technician and audits its own streams.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TypeVar

from audit.commands import (
    CannotRebuild,
    customer_command,
    describe,
    provider_command,
    unrouted_technician_message,
)
from audit.compare import compare
from audit.report import AuditReport, Divergence, Finding, ViewsUnknown
from audit.stored import StoredEvent
from contracts.events import RecordedEvent
from contracts.lead_events import MessageReceived, SenderRole
from contracts.outbound import (
    ReplyDeliveryUpdated,
    ReplyFailed,
    ReplyReworded,
    ReplySendAttempted,
    ReplySendSettled,
    ReplySent,
)
from contracts.personal import SUPPRESSED, forgotten_paths
from eventstore import Checkpoint
from orchestrator import leads_flow
from orchestrator.domain.ids import CUSTOMER_STREAM_PREFIX, PROVIDER_STREAM_PREFIX
from orchestrator.domain.model import INITIAL_STATE, CustomerState
from orchestrator.domain.providers import PROVIDER_VIEW_TYPES, ProviderView, apply_decoded_provider_event

__all__ = ["SENDER_TYPES", "AuditReport", "Auditor", "Divergence", "StoredEvent", "ViewsUnknown", "audit_events"]

#: Written by the sender and the status webhook: facts from outside, not decisions. They only advance a
#: customer stream's version when folded (``orchestrator.domain.evolve`` has no handler for them; a unit
#: test holds this), so they are never decoded and a reader may leave them out.
SENDER_TYPES = frozenset(
    {
        ReplyReworded.TYPE,
        ReplySendAttempted.TYPE,
        ReplySendSettled.TYPE,
        ReplySent.TYPE,
        ReplyFailed.TYPE,
        ReplyDeliveryUpdated.TYPE,
    }
)

#: How many past versions of the technicians' views are kept for ``metadata.providers_checkpoint``
#: (a directory trails the store by a moment, i.e. by far fewer changes than this).
VIEW_HISTORY = 10_000


F = TypeVar("F", bound=Finding)


class _ViewsNotKept(LookupError):
    """The technicians' views at a decision's recorded directory position are not among those kept."""


class Auditor:
    """Feed it the global order (``feed``), then ``finish()`` for the report. Pure: no I/O, no clock.

    ``owns`` says which streams this auditor audits and counts (default: all); every event fed still
    updates the technicians' views, so of a stream it does not own a reader may leave out every event but
    those of ``PROVIDER_VIEW_TYPES`` that name a technician (``data.provider_id``).
    """

    def __init__(self, *, owns: Callable[[str], bool] | None = None, view_history: int = VIEW_HISTORY) -> None:
        self._owns = owns
        self._view_history = view_history
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

    def finish(self) -> AuditReport:
        if self._pending:
            self._flush()
        self._report.streams = len(self._audited)
        return self._report

    # -------------------------------------------------------------------------------- one group

    def _flush(self) -> None:
        group, self._pending = self._pending, []
        stream_id = group[0].stream_id
        owned = self._owns is None or self._owns(stream_id)
        if owned:
            self._report.events += len(group)  # a group is of one stream
        if owned and stream_id not in self._broken:
            if stream_id.startswith(CUSTOMER_STREAM_PREFIX):
                self._audited.add(stream_id)
                self._customer_group(stream_id, group)
            elif stream_id.startswith(PROVIDER_STREAM_PREFIX):
                self._audited.add(stream_id)
                self._provider_group(stream_id, group)
        for event in group:
            # Only these types with a technician change a view: the others are not even decoded.
            if event.type in PROVIDER_VIEW_TYPES and event.data.get("provider_id") is not None:
                self._apply_views(event)

    def _customer_group(self, stream_id: str, group: list[StoredEvent]) -> None:
        decisions = [event for event in group if event.type not in SENDER_TYPES]
        if not decisions:
            return  # what the sender recorded only advances the version, which the next decision re-reads
        self._report.decisions += 1
        if any(forgotten_paths(event.type, event.data) for event in decisions):
            self._report.forgotten.add(stream_id)
        first = group[0]
        state = self._states.get(stream_id, INITIAL_STATE)
        if state.version != first.stream_version - 1:
            # Events left out between decisions (the sender's) only advanced the version.
            state = replace(state, version=first.stream_version - 1)
        if _technician_text_forgotten(first):
            # Its decision read the words the technician typed, which went with the customer's key: it cannot
            # be re-decided (the stream is reported forgotten); the next decisions start from what it stored.
            self._fold_stored(stream_id, state, group)
            return
        what = first.type
        try:
            views = self._views_for(first)
            command = customer_command(stream_id, group, state, views)
            what = describe(command)
            decided, after = leads_flow.decide_with_state(
                state,
                command,
                providers=views,
                now=first.recorded_at,
                new_ids=leads_flow.deterministic_ids(first.correlation_id),
            )
            lines = compare(decided, decisions)
        except _ViewsNotKept as unknown:  # not re-decided on other views than the decision's
            self._views_unknown(stream_id, group, str(unknown))
            self._fold_stored(stream_id, state, group)
            return
        except Exception as error:  # anything re-deciding raises is a finding, not a crash of the audit
            lines = [f"cannot re-decide: {type(error).__name__}: {error}"]
        if lines:
            self._diverged(stream_id, group, what, lines)
            self._fold_stored(stream_id, state, group)
        elif len(decisions) == len(group):
            # The stored events are the decided ones, which the decision has folded already.
            self._states[stream_id] = after
        else:
            self._fold_stored(stream_id, state, group)

    def _provider_group(self, stream_id: str, group: list[StoredEvent]) -> None:
        first = group[0]
        if first.type in SENDER_TYPES:
            return
        self._report.decisions += 1
        if any(forgotten_paths(event.type, event.data) for event in group):
            # A forgotten technician's registration or message: its inputs (name, phone, text) went with their
            # key, so it cannot be re-decided (the stream is reported forgotten); the views fold what it stored.
            self._report.forgotten.add(stream_id)
            return
        what = first.type
        try:
            views = self._views_for(first)
            event = first.decoded()
            if isinstance(event, MessageReceived):
                command = unrouted_technician_message(event)
                what = describe(command)
                provider = views.get(command.provider_id)
                if provider is None:
                    raise CannotRebuild(f"technician {command.provider_id} unknown at that point")
                decided = leads_flow.decide_unrouted_technician_message(
                    command, provider=provider, now=first.recorded_at,
                    new_ids=leads_flow.deterministic_ids(first.correlation_id),
                )  # fmt: skip
            else:
                operator = provider_command(event, first.correlation_id)
                what = describe(operator)
                decided = leads_flow.decide_provider(operator, providers=views, now=first.recorded_at)
            lines = compare(decided, [e for e in group if e.type not in SENDER_TYPES])
        except _ViewsNotKept as unknown:
            self._views_unknown(stream_id, group, str(unknown))
            return
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
        found = _finding(Divergence, stream_id, group, what, lines)
        self._report.divergences.setdefault(stream_id, []).append(found)

    def _views_unknown(self, stream_id: str, group: Sequence[StoredEvent], reason: str) -> None:
        found = _finding(ViewsUnknown, stream_id, group, group[0].type, [reason])
        self._report.views_unknown.setdefault(stream_id, []).append(found)

    # ----------------------------------------------------------------------------- technicians

    def _apply_views(self, event: StoredEvent) -> None:
        try:
            views = apply_decoded_provider_event(self._views, event.decoded())
        except Exception:
            return  # an unreadable event changes no view; its own stream's audit reports it
        if views is not self._views:
            self._views = views
            self._history_at.append(event.checkpoint)
            self._history.append(views)
            if len(self._history) > 2 * self._view_history:
                del self._history_at[: self._view_history], self._history[: self._view_history]

    def _views_for(self, first: StoredEvent) -> Mapping[str, ProviderView]:
        """The views the decision saw: at its recorded directory position, else just before it."""
        at = first.providers_at()
        if at is None:
            return self._views
        position = f"({at.transaction_id}, {at.global_position})"
        if at >= first.checkpoint:
            # A directory only reads committed events: its position is always before the decision's own.
            raise _ViewsNotKept(f"not re-decided: its recorded directory position {position} is not before it")
        index = bisect.bisect_right(self._history_at, at) - 1
        if index < 0:
            oldest = self._history_at[0]
            raise _ViewsNotKept(
                f"not re-decided: the technicians' views at its directory position {position} are no longer "
                f"known (the audit keeps at least the last {self._view_history:,} versions of them, the oldest from "
                f"({oldest.transaction_id}, {oldest.global_position}))"
            )
        return self._history[index]


def _finding(kind: type[F], stream_id: str, group: Sequence[StoredEvent], what: str, lines: list[str]) -> F:
    first, last = group[0], group[-1]
    return kind(
        stream_id=stream_id,
        first_version=first.stream_version,
        last_version=last.stream_version,
        cause=first.correlation_id or "(no correlation id)",
        what=what,
        recorded_at=first.recorded_at_text,
        lines=tuple(lines),
    )


def audit_events(
    events: Iterable[RecordedEvent], *, streams: Collection[str] | None = None, view_history: int = VIEW_HISTORY
) -> AuditReport:
    """Audit events given in global order (tests, in-memory stores); ``streams`` limits what is audited."""
    owns = frozenset(streams).__contains__ if streams is not None else None
    auditor = Auditor(owns=owns, view_history=view_history)
    auditor.feed(StoredEvent.of(event) for event in events)
    return auditor.finish()


def _technician_text_forgotten(first: StoredEvent) -> bool:
    """A technician's typed message on a forgotten customer's stream (a tapped button is still re-decided)."""
    data = first.data
    return (
        first.type == MessageReceived.TYPE
        and data.get("role") != SenderRole.CUSTOMER.value
        and data.get("text") == SUPPRESSED
        and data.get("reply_id") is None
    )
