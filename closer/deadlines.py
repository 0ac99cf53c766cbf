"""When each timer of a customer's stream falls due: pure functions of the recorded events.

The closer never decides anything: it only notices that a lead has waited too long and names the command
the orchestrator should decide (which does nothing if the lead moved on in the meantime). Five timers, and
two erasure jobs the closer runs itself (``closer.forget_jobs``):

====================  ============================================  ===================================
command               while                                         due
====================  ============================================  ===================================
ExpireConversation    the lead is a draft                           last customer message + draft TTL
TimeoutOffer          the lead is offered to a technician           offered_at + offer TTL
FollowUpJob           the job is in progress, no rating asked yet   assigned_at + job window(urgency)
CloseUnratedLead      the conversation waits for a rating           since it waits + rating window
DropErasureQuestion   the customer is asked to confirm an erasure   since asked + question wait
ForgetPerson          the customer confirmed erasure (``erased``)   at once (waits for the goodbye)
ForgetPerson          nothing open (``idle``/``closed``)            last activity + retention
====================  ============================================  ===================================

Command ids are deterministic and name the situation they were computed from (the lead and the moment the
waiting began), so recomputing a deadline gives the same id (a repeated tick is deduplicated by JetStream
and by the orchestrator's inbox), and a new situation gets a new id (a timer consumed while it did not
apply — e.g. a follow-up while the customer was deciding whether to cancel — can fire again later).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from closer.forget_jobs import ForgetPerson, ForgetReason
from contracts.commands import CloseUnratedLead, DropErasureQuestion, ExpireConversation, FollowUpJob, TimeoutOffer
from contracts.events import RecordedEvent
from contracts.intent import Urgency
from contracts.lead_events import ConversationState, ConversationStateChanged, LeadStatus, MessageReceived, SenderRole
from orchestrator.domain.ids import CUSTOMER_STREAM_PREFIX
from orchestrator.leads_flow import INITIAL_STATE, CustomerState, evolve

TimerCommand = ExpireConversation | TimeoutOffer | FollowUpJob | CloseUnratedLead | DropErasureQuestion


class TimerKind(StrEnum):
    DRAFT_ABANDONED = "expire-draft"
    OFFER_UNANSWERED = "timeout-offer"
    JOB_PAST_WINDOW = "follow-up"
    RATING_NEVER_GIVEN = "close-unrated"
    ERASURE_QUESTION_UNANSWERED = "drop-erasure-question"
    #: Run by the closer itself (``closer.forget_jobs``), not published.
    ERASURE_CONFIRMED = "forget-erased"
    RETENTION_PASSED = "forget-retention"


def _default_job_windows() -> Mapping[Urgency, timedelta]:
    return MappingProxyType(
        {Urgency.HOY: timedelta(hours=24), Urgency.UNO_DOS_DIAS: timedelta(hours=72), Urgency.SEMANA: timedelta(days=7)}
    )


@dataclass(frozen=True, slots=True)
class TimerDurations:
    draft_abandoned: timedelta = timedelta(hours=6)
    offer_unanswered: timedelta = timedelta(minutes=10)
    #: How long after the assignment we ask whether the job was done, by the urgency the customer chose.
    job_window: Mapping[Urgency, timedelta] = field(default_factory=_default_job_windows)
    rating_window: timedelta = timedelta(hours=72)
    #: How long "¿borrar tus datos?" waits for an answer before the flow resumes as after a "No".
    erasure_question: timedelta = timedelta(hours=24)
    #: How long the erasure a customer confirmed waits for its goodbye's send to be recorded.
    goodbye_wait: timedelta = timedelta(minutes=5)
    #: Personal data kept this long after the last lead ended and the customer last wrote (None: forever).
    retention: timedelta | None = None

    def window_for(self, urgency: Urgency | None) -> timedelta:
        # A submitted lead always has an urgency; if one ever lacks it, wait the longest window.
        if urgency is None:
            return max(self.job_window.values())
        return self.job_window[urgency]


@dataclass(frozen=True, slots=True)
class TraceIds:
    """The span of a decision, as its events' metadata record it (hex)."""

    trace_id: str
    span_id: str

    @classmethod
    def of(cls, recorded: RecordedEvent) -> TraceIds | None:
        metadata = recorded.metadata
        if metadata.trace_id and metadata.span_id:
            return cls(metadata.trace_id, metadata.span_id)
        return None


@dataclass(frozen=True, slots=True)
class Deadline:
    kind: TimerKind
    due_at: datetime
    command: TimerCommand | ForgetPerson
    #: The decision that set the timer, when it was traced: the command continues that trace.
    set_by: TraceIds | None = None

    @property
    def command_id(self) -> str:
        return self.command.command_id

    @property
    def customer_key(self) -> str:
        return self.command.customer_key


@dataclass(frozen=True, slots=True)
class TimerState:
    """A customer's state plus the two moments the state itself does not keep."""

    customer: CustomerState = INITIAL_STATE
    #: When the customer last wrote (the decision's time, ``metadata.recorded_at``).
    last_customer_message_at: datetime | None = None
    #: When the conversation entered its current state.
    conversation_since: datetime | None = None
    #: The person key the stream is named after (the state knows it only once a lead was drafted).
    stream_key: str | None = None


def observe(state: TimerState, recorded: RecordedEvent) -> TimerState:
    """``state`` after one recorded event of the customer's stream (raises what ``evolve`` raises)."""
    event = recorded.to_event()
    at = recorded.metadata.recorded_at
    state = replace(state, customer=evolve(state.customer, event))
    if state.stream_key is None and recorded.stream_id.startswith(CUSTOMER_STREAM_PREFIX):
        state = replace(state, stream_key=recorded.stream_id.removeprefix(CUSTOMER_STREAM_PREFIX))
    if isinstance(event, MessageReceived) and event.role is SenderRole.CUSTOMER:
        return replace(state, last_customer_message_at=at)
    if isinstance(event, ConversationStateChanged):
        return replace(state, conversation_since=at)
    return state


def timer_state(events: Iterable[RecordedEvent]) -> TimerState:
    state = TimerState()
    for recorded in events:
        state = observe(state, recorded)
    return state


def stamp(moment: datetime) -> str:
    """A moment as it appears in command ids: UTC, microseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _erasure(state: TimerState, durations: TimerDurations) -> list[Deadline]:
    """The erasure the customer confirmed (conversation ``erased``), or the one retention asks for."""
    customer, lead = state.customer, state.customer.lead
    key = customer.customer_key or state.stream_key  # a customer who never started a lead has data too
    lead_id = lead.lead_id if lead is not None else ""
    if key is None:
        return []
    if customer.conversation is ConversationState.ERASED and customer.erasure_goodbye is not None:
        since = state.conversation_since or state.last_customer_message_at
        if since is None:
            return []
        job = ForgetPerson(command_id=f"{TimerKind.ERASURE_CONFIRMED}:{key}", customer_key=key, lead_id=lead_id,
                           reason=ForgetReason.CUSTOMER_REQUEST, goodbye_reply_id=customer.erasure_goodbye,
                           give_up_at=since + durations.goodbye_wait)  # fmt: skip
        return [Deadline(TimerKind.ERASURE_CONFIRMED, since, job)]
    if durations.retention is None or customer.conversation not in _AT_REST or customer.open_lead is not None:
        return []
    # The last activity: the lead's end, the customer's last message, the conversation's last change (an
    # erasure question dropped, a hand-back).
    activity = (lead.ended_at if lead else None, state.last_customer_message_at, state.conversation_since)
    moments = [m for m in activity if m is not None]
    if not moments:
        return []
    since = max(moments)
    job = ForgetPerson(command_id=f"{TimerKind.RETENTION_PASSED}:{key}:{stamp(since)}", customer_key=key,
                       lead_id=lead_id, reason=ForgetReason.RETENTION)  # fmt: skip
    return [Deadline(TimerKind.RETENTION_PASSED, since + durations.retention, job)]


#: Conversations with nothing going on: the retention period runs from their last activity.
_AT_REST = frozenset({ConversationState.IDLE, ConversationState.CLOSED})


def deadlines(state: TimerState, durations: TimerDurations) -> list[Deadline]:
    """The timers running for this customer: their current lead's (at most one applies at a time), or the
    forgetting of their data; and while they are asked to confirm an erasure, the end of that wait."""
    return _lead_or_erasure(state, durations) + _erasure_question(state, durations)


def _erasure_question(state: TimerState, durations: TimerDurations) -> list[Deadline]:
    customer = state.customer
    key = customer.customer_key or state.stream_key
    since = state.conversation_since
    if customer.conversation is not ConversationState.CONFIRMING_ERASURE or key is None or since is None:
        return []
    drop = DropErasureQuestion(
        command_id=f"{TimerKind.ERASURE_QUESTION_UNANSWERED}:{key}:{stamp(since)}", customer_key=key,
        lead_id=customer.lead.lead_id if customer.lead is not None else "",
        customer_messages_seen=customer.customer_messages,
    )  # fmt: skip
    return [Deadline(TimerKind.ERASURE_QUESTION_UNANSWERED, since + durations.erasure_question, drop)]


def _lead_or_erasure(state: TimerState, durations: TimerDurations) -> list[Deadline]:
    customer, lead = state.customer, state.customer.lead
    key = customer.customer_key
    if lead is None or key is None or lead.is_terminal:
        return _erasure(state, durations)
    lead_id = lead.lead_id
    if lead.status is LeadStatus.DRAFT:
        if customer.handed_over:
            return []  # a person is talking with the customer: the draft is not abandoned
        # Counted again from a hand-back: the customer may not have written since a person let them go.
        since = max(state.last_customer_message_at or lead.drafted_at, lead.drafted_at,
                    state.conversation_since or lead.drafted_at)  # fmt: skip
        command_id = f"{TimerKind.DRAFT_ABANDONED}:{lead_id}:{stamp(since)}"
        expire = ExpireConversation(
            command_id=command_id, customer_key=key, lead_id=lead_id, customer_messages_seen=customer.customer_messages
        )
        return [Deadline(TimerKind.DRAFT_ABANDONED, since + durations.draft_abandoned, expire)]
    found: list[Deadline] = []
    if lead.status is LeadStatus.OFFERED and lead.offered_to is not None and lead.offered_at is not None:
        command_id = f"{TimerKind.OFFER_UNANSWERED}:{lead_id}:{lead.offered_to}:{stamp(lead.offered_at)}"
        timeout = TimeoutOffer(command_id=command_id, customer_key=key, lead_id=lead_id, provider_id=lead.offered_to)
        found.append(Deadline(TimerKind.OFFER_UNANSWERED, lead.offered_at + durations.offer_unanswered, timeout))
    in_progress = customer.conversation is ConversationState.JOB_IN_PROGRESS
    if lead.status is LeadStatus.ASSIGNED and in_progress and not lead.rating_requested and lead.assigned_at:
        # Named after when the job (re)entered "in progress": a follow-up that arrived while the customer was
        # deciding whether to cancel did nothing, and must be able to fire again once they keep the job.
        since = state.conversation_since or lead.assigned_at
        command_id = f"{TimerKind.JOB_PAST_WINDOW}:{lead_id}:{stamp(since)}"
        follow_up = FollowUpJob(command_id=command_id, customer_key=key, lead_id=lead_id)
        due = lead.assigned_at + durations.window_for(lead.fields.urgency)
        found.append(Deadline(TimerKind.JOB_PAST_WINDOW, due, follow_up))
    if customer.conversation is ConversationState.AWAITING_RATING and state.conversation_since is not None:
        since = state.conversation_since
        command_id = f"{TimerKind.RATING_NEVER_GIVEN}:{lead_id}:{stamp(since)}"
        close = CloseUnratedLead(command_id=command_id, customer_key=key, lead_id=lead_id)
        found.append(Deadline(TimerKind.RATING_NEVER_GIVEN, since + durations.rating_window, close))
    return found


def deadlines_of(events: Sequence[RecordedEvent], durations: TimerDurations) -> list[Deadline]:
    """The timers running after a customer's recorded stream, each with the traced decision that set it."""
    if not any(recorded.metadata.trace_id for recorded in events):
        return deadlines(timer_state(events), durations)
    return TimerFold().then(events, durations).deadlines(durations)


@dataclass(frozen=True, slots=True)
class TimerFold:
    """A customer's stream folded for its timers up to ``version``, so that what comes next can be folded
    without reading the stream again: the state, and per timer command id the traced decision after which
    it first ran (``None`` untraced)."""

    state: TimerState = TimerState()
    set_by: Mapping[str, TraceIds | None] = field(default_factory=dict)
    version: int = 0

    def then(self, events: Iterable[RecordedEvent], durations: TimerDurations) -> TimerFold:
        """This fold after ``events``, the stream's next ones in order (raises what ``evolve`` raises)."""
        state, set_by, version = self.state, dict(self.set_by), self.version
        for recorded in events:
            state = observe(state, recorded)
            # A timer's command id names its situation: the first event after which it runs set it.
            for deadline in deadlines(state, durations):
                set_by.setdefault(deadline.command_id, TraceIds.of(recorded))
            version = recorded.stream_version
        return TimerFold(state, set_by, version)

    def deadlines(self, durations: TimerDurations) -> list[Deadline]:
        return [replace(d, set_by=self.set_by.get(d.command_id)) for d in deadlines(self.state, durations)]
