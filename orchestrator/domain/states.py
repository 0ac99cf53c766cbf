"""The transition tables: the only place where a conversation or a lead may change state.

``evolve`` looks every change up here and raises :class:`IllegalTransition` for a pair that is not listed;
``decide`` only emits changes listed here (the tests check both). ``docs/state_machine.md`` is generated
from these tables by ``devtools.render_state_tables``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from contracts.lead_events import ConversationState, ConversationTrigger, LeadStatus

C = ConversationState
CT = ConversationTrigger


class LeadTrigger(StrEnum):
    """What happens to a lead; each lead event type maps to one (``evolve.LEAD_TRIGGER_OF_EVENT``)."""

    FIELDS_CAPTURED = "fields_captured"
    SUBMITTED = "submitted"
    OFFERED = "offered"
    OFFER_DECLINED = "offer_declined"
    OFFER_EXPIRED = "offer_expired"
    ASSIGNED = "assigned"
    UNMATCHED = "unmatched"
    JOB_COMPLETED = "job_completed"
    RATED = "rated"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


L = LeadStatus
LT = LeadTrigger


class IllegalTransition(ValueError):
    """An event that the tables do not allow in the current state: a bug or a corrupted stream."""

    def __init__(self, machine: str, state: str | None, trigger: str) -> None:
        super().__init__(f"{machine}: no transition from {state!r} on {trigger!r}")
        self.machine = machine
        self.state = state
        self.trigger = trigger


#: A customer may ask for their data to be erased in these (``erasure``): the states where no technician
#: can hold their request (the decision also refuses a lead still offered or assigned, as in awaiting a
#: rating after a follow-up). Withdrawing returns to the same state (``CustomerState.resume_at``).
ERASURE_ASKED_FROM: frozenset[ConversationState] = frozenset(
    {C.IDLE, C.CLOSED, C.COLLECTING, C.CONFIRMING, C.AWAITING_RATING}
)
#: A conversation in any of these may be handed over to a person; handing it back returns it to the same one
#: (remembered in ``CustomerState.resume_at``). Asking for a person while confirming an erasure withdraws
#: the erasure first (the hand-over starts from where the flow was); an erased conversation has nobody left.
HANDED_OVER_FROM: frozenset[ConversationState] = frozenset(
    s for s in C if s not in (C.HANDED_OVER, C.CONFIRMING_ERASURE, C.ERASED)
)
#: What may still happen to the lead while a person has the conversation: the conversation stays handed over,
#: and the state it resumes at follows the same table.
WHILE_HANDED_OVER: frozenset[ConversationTrigger] = frozenset(
    {CT.TECHNICIAN_ASSIGNED, CT.NO_TECHNICIAN_AVAILABLE, CT.JOB_COMPLETED}
)
#: What may still happen to the lead while the customer decides whether to erase their data (only a draft
#: can be open then, and it may be abandoned): the question stays, the state it returns to follows.
WHILE_CONFIRMING_ERASURE: frozenset[ConversationTrigger] = frozenset({CT.LEAD_EXPIRED})
#: Conversations set aside from the flow, with the state they resume at (``CustomerState.resume_at``), and
#: what may still move that state meanwhile.
WHILE_ASIDE: Mapping[ConversationState, frozenset[ConversationTrigger]] = MappingProxyType(
    {C.HANDED_OVER: WHILE_HANDED_OVER, C.CONFIRMING_ERASURE: WHILE_CONFIRMING_ERASURE}
)
#: How a conversation set aside returns to the state it resumes at (not in the table: the target varies).
RESUMING: Mapping[ConversationState, ConversationTrigger] = MappingProxyType(
    {C.HANDED_OVER: CT.HANDED_BACK, C.CONFIRMING_ERASURE: CT.ERASURE_WITHDRAWN}
)
#: Where each aside may have been entered from, i.e. where it may resume.
RESUMES_FROM: Mapping[ConversationState, frozenset[ConversationState]] = MappingProxyType(
    {C.HANDED_OVER: HANDED_OVER_FROM, C.CONFIRMING_ERASURE: ERASURE_ASKED_FROM}
)

CONVERSATION_TRANSITIONS: Mapping[tuple[ConversationState, ConversationTrigger], ConversationState] = MappingProxyType(
    {
        (C.IDLE, CT.LEAD_STARTED): C.COLLECTING,
        (C.CLOSED, CT.LEAD_STARTED): C.COLLECTING,
        (C.COLLECTING, CT.ALL_FIELDS_CAPTURED): C.CONFIRMING,
        (C.COLLECTING, CT.LEAD_CANCELLED): C.CLOSED,
        (C.COLLECTING, CT.LEAD_EXPIRED): C.CLOSED,
        (C.CONFIRMING, CT.CORRECTION_REQUESTED): C.COLLECTING,
        (C.CONFIRMING, CT.LEAD_SUBMITTED): C.WAITING_TECHNICIAN,
        (C.CONFIRMING, CT.LEAD_CANCELLED): C.CLOSED,
        (C.CONFIRMING, CT.LEAD_EXPIRED): C.CLOSED,
        (C.WAITING_TECHNICIAN, CT.TECHNICIAN_ASSIGNED): C.JOB_IN_PROGRESS,
        (C.WAITING_TECHNICIAN, CT.NO_TECHNICIAN_AVAILABLE): C.CLOSED,
        (C.WAITING_TECHNICIAN, CT.CANCEL_REQUESTED): C.CONFIRMING_CANCEL,
        (C.CONFIRMING_CANCEL, CT.LEAD_CANCELLED): C.CLOSED,
        (C.CONFIRMING_CANCEL, CT.CANCEL_WITHDRAWN_WHILE_WAITING): C.WAITING_TECHNICIAN,
        (C.CONFIRMING_CANCEL, CT.CANCEL_WITHDRAWN_DURING_JOB): C.JOB_IN_PROGRESS,
        # The lead moves on while the customer is still deciding whether to cancel.
        (C.CONFIRMING_CANCEL, CT.NO_TECHNICIAN_AVAILABLE): C.CLOSED,
        (C.CONFIRMING_CANCEL, CT.JOB_COMPLETED): C.AWAITING_RATING,
        (C.JOB_IN_PROGRESS, CT.CANCEL_REQUESTED): C.CONFIRMING_CANCEL,
        (C.JOB_IN_PROGRESS, CT.JOB_COMPLETED): C.AWAITING_RATING,
        (C.JOB_IN_PROGRESS, CT.FOLLOW_UP_DUE): C.AWAITING_RATING,
        (C.AWAITING_RATING, CT.LEAD_RATED): C.CLOSED,
        (C.AWAITING_RATING, CT.RATING_WINDOW_CLOSED): C.CLOSED,
        **{(state, CT.HANDED_OVER): C.HANDED_OVER for state in C if state in HANDED_OVER_FROM},
        **{(C.HANDED_OVER, trigger): C.HANDED_OVER for trigger in CT if trigger in WHILE_HANDED_OVER},
        **{(state, CT.ERASURE_ASKED): C.CONFIRMING_ERASURE for state in C if state in ERASURE_ASKED_FROM},
        **{(C.CONFIRMING_ERASURE, t): C.CONFIRMING_ERASURE for t in CT if t in WHILE_CONFIRMING_ERASURE},
        # Final: the person is forgotten; writing again later starts a new person.
        (C.CONFIRMING_ERASURE, CT.ERASURE_CONFIRMED): C.ERASED,
    }
)

#: ``None`` is "no lead yet" (or the previous one ended): the only way in is ``LeadDrafted``.
LEAD_START_STATUS = L.DRAFT

LEAD_TRANSITIONS: Mapping[tuple[LeadStatus, LeadTrigger], LeadStatus] = MappingProxyType(
    {
        (L.DRAFT, LT.FIELDS_CAPTURED): L.DRAFT,
        (L.DRAFT, LT.SUBMITTED): L.SUBMITTED,
        (L.DRAFT, LT.CANCELLED): L.CANCELLED,
        (L.DRAFT, LT.EXPIRED): L.EXPIRED,
        # "submitted" lasts within one decision only: matching runs right after it, so a submitted lead is
        # never cancelled or changed before it is offered or unmatched.
        (L.SUBMITTED, LT.OFFERED): L.OFFERED,
        (L.SUBMITTED, LT.UNMATCHED): L.UNMATCHED,
        (L.OFFERED, LT.FIELDS_CAPTURED): L.OFFERED,
        (L.OFFERED, LT.OFFER_DECLINED): L.SUBMITTED,
        (L.OFFERED, LT.OFFER_EXPIRED): L.SUBMITTED,
        (L.OFFERED, LT.ASSIGNED): L.ASSIGNED,
        (L.OFFERED, LT.CANCELLED): L.CANCELLED,
        (L.ASSIGNED, LT.FIELDS_CAPTURED): L.ASSIGNED,
        (L.ASSIGNED, LT.JOB_COMPLETED): L.COMPLETED,
        (L.ASSIGNED, LT.CANCELLED): L.CANCELLED,
        # A follow-up that never got an answer: nobody knows whether the job was done.
        (L.ASSIGNED, LT.CLOSED): L.CLOSED,
        (L.COMPLETED, LT.RATED): L.RATED,
        (L.COMPLETED, LT.CLOSED): L.CLOSED,
    }
)

TERMINAL_LEAD_STATUSES: frozenset[LeadStatus] = frozenset({L.RATED, L.CLOSED, L.CANCELLED, L.EXPIRED, L.UNMATCHED})
#: Submitted and not finished: cancelling one of these asks the customer to confirm first.
ACTIVE_LEAD_STATUSES: frozenset[LeadStatus] = frozenset({L.SUBMITTED, L.OFFERED, L.ASSIGNED})


def next_conversation_state(
    state: ConversationState, trigger: ConversationTrigger, *, resume_at: ConversationState | None = None
) -> ConversationState:
    """The state ``trigger`` leads to; handing back (or withdrawing an erasure) leads to ``resume_at``, the
    state the conversation was set aside from."""
    if trigger in RESUMING.values():
        if RESUMING.get(state) is trigger and resume_at in RESUMES_FROM[state]:
            return resume_at
        raise IllegalTransition("conversation", state, f"{trigger} to {resume_at}")
    try:
        return CONVERSATION_TRANSITIONS[(state, trigger)]
    except KeyError:
        raise IllegalTransition("conversation", state, trigger) from None


def can_change_conversation(
    state: ConversationState, trigger: ConversationTrigger, *, resume_at: ConversationState | None = None
) -> bool:
    """Whether ``trigger`` may happen now; while set aside (handed over, confirming an erasure), also to the
    state the conversation resumes at."""
    if trigger in WHILE_ASIDE.get(state, ()):
        return resume_at is not None and (resume_at, trigger) in CONVERSATION_TRANSITIONS
    return (state, trigger) in CONVERSATION_TRANSITIONS


def next_lead_status(status: LeadStatus, trigger: LeadTrigger) -> LeadStatus:
    try:
        return LEAD_TRANSITIONS[(status, trigger)]
    except KeyError:
        raise IllegalTransition("lead", status, trigger) from None
