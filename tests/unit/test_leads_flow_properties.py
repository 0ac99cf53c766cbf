"""Whatever customers, technicians and timers do, in any order: decide never raises, never emits a transition
the tables refuse, and the conversation and the lead always agree."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.commands import (
    CloseUnratedLead,
    CustomerCommand,
    ExpireConversation,
    FollowUpJob,
    HandBackConversation,
    TakeConversation,
    TimeoutOffer,
    Understanding,
    WriteToCustomer,
)
from contracts.intent import Consent, IntentName, Service, UnderstandingSource, Urgency
from contracts.lead_events import ConversationState, LeadStatus
from contracts.llm import OffFlowTopic
from contracts.outbound import RecipientRole
from contracts.provider_events import ProviderRegistered
from orchestrator.domain.handover import ConversationActionRejected
from orchestrator.leads_flow import customer_key_of_lead, fold
from tests.unit.leads_flow_support import (
    ADDRESS,
    CUSTOMER,
    CUSTOMER_PHONE,
    FIRST_MESSAGE,
    JUANA,
    PEDRO,
    TAP_CANCEL,
    TAP_CONFIRM,
    TAP_FIX,
    TAP_HOY,
    TAP_KEEP,
    TAP_SURE_CANCEL,
    Scenario,
    rating_tap,
    replies,
    says,
)

S, L = ConversationState, LeadStatus

CUSTOMER_MESSAGES: list[Understanding] = [
    FIRST_MESSAGE,
    TAP_HOY,
    ADDRESS,
    TAP_CONFIRM,
    TAP_FIX,
    TAP_CANCEL,
    TAP_SURE_CANCEL,
    TAP_KEEP,
    rating_tap(4),
    says("hola", IntentName.SMALLTALK),
    says("estado", IntentName.ASK_STATUS),
    says("cancelar", IntentName.CANCEL),
    says("sí", consent=Consent.YES),
    says("no", consent=Consent.NO),
    says("5", IntentName.UNKNOWN, confidence=0.3),
    says("esta semana mejor", IntentName.UPDATE_LEAD, urgency=Urgency.SEMANA),
    says("es en maipú", IntentName.UPDATE_LEAD, comuna="Maipú"),
    says("necesito un electricista", service=Service.ELECTRICIDAD),
    says("el enchufe echa chispas", IntentName.UNKNOWN, confidence=0.2),
    says("   ", IntentName.UNKNOWN, confidence=0.0, address="   ", problem_type=" "),
    Understanding(
        source=UnderstandingSource.RULES, text="quiero hablar con una persona", detour=OffFlowTopic.ASKS_FOR_PERSON
    ),
]


def _lead_id(s: Scenario) -> str:
    return s.state.lead.lead_id if s.state.lead is not None else f"{CUSTOMER}.1"


Action = Callable[[Scenario], object]


def _customer_says(u: Understanding) -> Action:
    return lambda s: s.customer(u)


def _technician_taps(provider: ProviderRegistered, prefix: str) -> Action:
    return lambda s: s.technician(provider, reply_id=f"{prefix}{_lead_id(s)}")


MESSAGE_ACTIONS: list[Action] = [
    *[_customer_says(u) for u in CUSTOMER_MESSAGES],
    *[
        _technician_taps(p, prefix)
        for p in (PEDRO, JUANA)
        for prefix in ("offer:accept:", "offer:decline:", "job:done:")
    ],
    lambda s: s.technician(PEDRO, text="terminado", lead_id=_lead_id(s)),
]
#: Timers: a stale one decides nothing.
TIMER_ACTIONS: list[Action] = [
    lambda s: s.run(ExpireConversation(command_id="e", customer_key=CUSTOMER, lead_id=_lead_id(s))),
    lambda s: s.run(TimeoutOffer(command_id="t", customer_key=CUSTOMER, lead_id=_lead_id(s), provider_id="pedro")),
    lambda s: s.run(TimeoutOffer(command_id="t", customer_key=CUSTOMER, lead_id=_lead_id(s), provider_id="juana")),
    lambda s: s.run(FollowUpJob(command_id="f", customer_key=CUSTOMER, lead_id=_lead_id(s))),
    lambda s: s.run(CloseUnratedLead(command_id="c", customer_key=CUSTOMER, lead_id=_lead_id(s))),
]


def _operator(command: CustomerCommand) -> Action:
    def act(s: Scenario) -> object:
        try:
            return s.run(command)
        except ConversationActionRejected:
            return None  # refused with a reason, nothing recorded

    return act


#: Operators on a handed-over conversation (refused, with a reason, in any other state).
OPERATOR_ACTIONS: list[Action] = [
    _operator(TakeConversation(command_id="take", customer_key=CUSTOMER, operator="ana")),
    _operator(WriteToCustomer(command_id="write", customer_key=CUSTOMER, operator="ana", text="Hola, soy Ana")),
    _operator(HandBackConversation(command_id="back", customer_key=CUSTOMER, operator="ana")),
    _operator(HandBackConversation(command_id="back-beto", customer_key=CUSTOMER, operator="beto")),  # refused
    _operator(HandBackConversation(command_id="back-admin", customer_key=CUSTOMER, operator="carla", by_admin=True)),
]
ACTIONS = [*MESSAGE_ACTIONS, *TIMER_ACTIONS, *OPERATOR_ACTIONS]
FIRST_TIMER = len(MESSAGE_ACTIONS)

#: Which lead statuses each conversation state allows.
CONSISTENT: dict[ConversationState, set[LeadStatus | None]] = {
    S.IDLE: {None},
    S.COLLECTING: {L.DRAFT},
    S.CONFIRMING: {L.DRAFT},
    S.WAITING_TECHNICIAN: {L.OFFERED},
    S.CONFIRMING_CANCEL: {L.OFFERED, L.ASSIGNED},
    S.JOB_IN_PROGRESS: {L.ASSIGNED},
    S.AWAITING_RATING: {L.ASSIGNED, L.COMPLETED},
    S.CLOSED: {L.RATED, L.CLOSED, L.CANCELLED, L.EXPIRED, L.UNMATCHED},
}


def _offered_technician(s: Scenario) -> ProviderRegistered:
    offered = s.state.lead.offered_to if s.state.lead is not None else None
    return PEDRO if offered == "pedro" else JUANA


def _journey(depth: int) -> Scenario:
    """A scenario started some way into the happy path, so random steps also explore the later states."""
    s = Scenario(PEDRO, JUANA)
    if depth >= 1:
        s.customer(FIRST_MESSAGE)
    if depth >= 2:
        s.customer(TAP_HOY)
        s.customer(ADDRESS)
    if depth >= 3:
        s.customer(TAP_CONFIRM)
    if depth >= 4:
        s.accept(_offered_technician(s))
    return s


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 4), st.lists(st.sampled_from(range(len(ACTIONS))), min_size=1, max_size=25))
def test_any_sequence_of_messages_and_timers_keeps_the_state_machine_consistent(depth: int, steps: list[int]) -> None:
    s = _journey(depth)
    for step in steps:
        before, was_handed_over = len(s.events), s.state.handed_over
        ACTIONS[step](s)  # never raises: evolve runs on every emitted event
        state = s.state
        status = state.lead.status if state.lead is not None else None
        # While a person has the conversation, the state it resumes at follows the lead.
        flow = state.resume_at if state.handed_over else state.conversation
        assert flow is not None
        assert status in CONSISTENT[flow], (state.conversation, flow, status)
        if was_handed_over and step < len(CUSTOMER_MESSAGES):
            assert not replies(s.events[before:]), "the bot stays silent while a person has the conversation"
        new = s.events[before:]
        if step < FIRST_TIMER:
            assert new, "every message is at least recorded"
        for reply in replies(new):
            if reply.recipient is RecipientRole.CUSTOMER:
                assert reply.to == CUSTOMER_PHONE
            else:
                assert reply.to in (PEDRO.phone, JUANA.phone)
        for view in s.views.values():
            assert 0 <= view.active_jobs <= view.capacity
            assert view.active_jobs + len(view.pending_offers) <= view.capacity
        if state.lead is not None:
            assert customer_key_of_lead(state.lead.lead_id) == CUSTOMER
    assert fold(s.events) == s.state


def test_a_timer_on_a_fresh_customer_does_nothing() -> None:
    s = Scenario(PEDRO)
    for action in TIMER_ACTIONS:
        action(s)
    assert s.events == []
