"""Every row of the transition tables is reached by a real decision, and every pair outside them is refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from contracts.commands import CloseUnratedLead, ExpireConversation, FollowUpJob, TimeoutOffer, Understanding
from contracts.events import Event
from contracts.intent import IntentName, UnderstandingSource, Urgency
from contracts.lead_events import (
    CompletionReporter,
    ConversationState,
    ConversationStateChanged,
    ConversationTrigger,
    JobCompleted,
    LeadAssigned,
    LeadCancelled,
    LeadClosed,
    LeadDrafted,
    LeadExpired,
    LeadFields,
    LeadFieldsCaptured,
    LeadRated,
    LeadStatus,
    LeadSubmitted,
    LeadUnmatched,
    OfferDeclined,
    OfferExpired,
    ProviderOffered,
)
from contracts.llm import OffFlowTopic
from devtools.render_state_tables import DOC_PATH, render_state_machine_doc
from orchestrator.domain.evolve import LEAD_TRIGGER_OF_EVENT
from orchestrator.domain.states import CONVERSATION_TRANSITIONS, ERASURE_ASKED_FROM, LEAD_TRANSITIONS, LeadTrigger
from orchestrator.leads_flow import CustomerState, IllegalTransition, Lead, evolve, fold
from tests.unit.leads_flow_support import (
    ADDRESS,
    CUSTOMER,
    FIRST_MESSAGE,
    LEAD,
    PEDRO,
    T0,
    TAP_CONFIRM,
    TAP_FIX,
    TAP_HOY,
    TAP_KEEP,
    TAP_SURE_CANCEL,
    Scenario,
    rating_tap,
    says,
    taps,
    transitions,
)

C, CT, L, LT = ConversationState, ConversationTrigger, LeadStatus, LeadTrigger
CANCELAR = says("cancelar", IntentName.CANCEL)
ASKS_FOR_PERSON = Understanding(
    source=UnderstandingSource.RULES, text="quiero hablar con una persona", detour=OffFlowTopic.ASKS_FOR_PERSON
)
TAP_ERASE = taps("erasure:yes", IntentName.UNKNOWN)
NEW_ADDRESS = says("la dirección es Grecia 55", IntentName.UPDATE_LEAD, address="Grecia 55")
EXPIRE = ExpireConversation(command_id="expire", customer_key=CUSTOMER, lead_id=LEAD)
TIMEOUT = TimeoutOffer(command_id="timeout", customer_key=CUSTOMER, lead_id=LEAD, provider_id="pedro")
FOLLOW_UP = FollowUpJob(command_id="follow-up", customer_key=CUSTOMER, lead_id=LEAD)
CLOSE = CloseUnratedLead(command_id="close", customer_key=CUSTOMER, lead_id=LEAD)

Step = Callable[[], tuple[Scenario, list[Event]]]


def collecting() -> Scenario:
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    s.customer(TAP_HOY)
    return s


def cancel_pending(s: Scenario) -> Scenario:
    s.customer(CANCELAR)
    return s


def _closed_then_restart() -> tuple[Scenario, list[Event]]:
    s = collecting()
    s.customer(CANCELAR)
    return s, s.customer(FIRST_MESSAGE)


def _unmatched_on_confirm() -> tuple[Scenario, list[Event]]:
    s = Scenario()
    s.up_to_confirming()
    return s, s.customer(TAP_CONFIRM)


def _closed_after_an_unanswered_follow_up() -> tuple[Scenario, list[Event]]:
    s = Scenario(PEDRO).up_to_assigned()
    s.run(FOLLOW_UP)
    return s, s.run(CLOSE)


def run(setup: Callable[[], Scenario], when: Callable[[Scenario], list[Event]]) -> Step:
    def step() -> tuple[Scenario, list[Event]]:
        s = setup()
        return s, when(s)

    return step


CONVERSATION_STEPS: dict[tuple[ConversationState, ConversationTrigger], Step] = {
    (C.IDLE, CT.LEAD_STARTED): run(lambda: Scenario(PEDRO), lambda s: s.customer(FIRST_MESSAGE)),
    (C.CLOSED, CT.LEAD_STARTED): _closed_then_restart,
    (C.COLLECTING, CT.ALL_FIELDS_CAPTURED): run(collecting, lambda s: s.customer(ADDRESS)),
    (C.COLLECTING, CT.LEAD_CANCELLED): run(collecting, lambda s: s.customer(CANCELAR)),
    (C.COLLECTING, CT.LEAD_EXPIRED): run(collecting, lambda s: s.run(EXPIRE)),
    (C.CONFIRMING, CT.CORRECTION_REQUESTED): run(
        lambda: Scenario(PEDRO).up_to_confirming(), lambda s: s.customer(TAP_FIX)
    ),
    (C.CONFIRMING, CT.LEAD_SUBMITTED): run(
        lambda: Scenario(PEDRO).up_to_confirming(), lambda s: s.customer(TAP_CONFIRM)
    ),
    (C.CONFIRMING, CT.LEAD_CANCELLED): run(lambda: Scenario(PEDRO).up_to_confirming(), lambda s: s.customer(CANCELAR)),
    (C.CONFIRMING, CT.LEAD_EXPIRED): run(lambda: Scenario(PEDRO).up_to_confirming(), lambda s: s.run(EXPIRE)),
    (C.WAITING_TECHNICIAN, CT.TECHNICIAN_ASSIGNED): run(
        lambda: Scenario(PEDRO).up_to_offered(), lambda s: s.accept(PEDRO)
    ),
    (C.WAITING_TECHNICIAN, CT.NO_TECHNICIAN_AVAILABLE): run(
        lambda: Scenario(PEDRO).up_to_offered(), lambda s: s.decline(PEDRO)
    ),
    (C.WAITING_TECHNICIAN, CT.CANCEL_REQUESTED): run(
        lambda: Scenario(PEDRO).up_to_offered(), lambda s: s.customer(CANCELAR)
    ),
    (C.CONFIRMING_CANCEL, CT.LEAD_CANCELLED): run(
        lambda: cancel_pending(Scenario(PEDRO).up_to_offered()), lambda s: s.customer(TAP_SURE_CANCEL)
    ),
    (C.CONFIRMING_CANCEL, CT.CANCEL_WITHDRAWN_WHILE_WAITING): run(
        lambda: cancel_pending(Scenario(PEDRO).up_to_offered()), lambda s: s.customer(TAP_KEEP)
    ),
    (C.CONFIRMING_CANCEL, CT.CANCEL_WITHDRAWN_DURING_JOB): run(
        lambda: cancel_pending(Scenario(PEDRO).up_to_assigned()), lambda s: s.customer(TAP_KEEP)
    ),
    (C.CONFIRMING_CANCEL, CT.NO_TECHNICIAN_AVAILABLE): run(
        lambda: cancel_pending(Scenario(PEDRO).up_to_offered()), lambda s: s.decline(PEDRO)
    ),
    (C.CONFIRMING_CANCEL, CT.JOB_COMPLETED): run(
        lambda: cancel_pending(Scenario(PEDRO).up_to_assigned()), lambda s: s.done(PEDRO)
    ),
    (C.JOB_IN_PROGRESS, CT.CANCEL_REQUESTED): run(
        lambda: Scenario(PEDRO).up_to_assigned(), lambda s: s.customer(CANCELAR)
    ),
    (C.JOB_IN_PROGRESS, CT.JOB_COMPLETED): run(lambda: Scenario(PEDRO).up_to_assigned(), lambda s: s.done(PEDRO)),
    (C.JOB_IN_PROGRESS, CT.FOLLOW_UP_DUE): run(lambda: Scenario(PEDRO).up_to_assigned(), lambda s: s.run(FOLLOW_UP)),
    (C.AWAITING_RATING, CT.LEAD_RATED): run(
        lambda: Scenario(PEDRO).up_to_completed(), lambda s: s.customer(rating_tap(2))
    ),
    (C.AWAITING_RATING, CT.RATING_WINDOW_CLOSED): run(
        lambda: Scenario(PEDRO).up_to_completed(), lambda s: s.run(CLOSE)
    ),
}


def _closed() -> Scenario:
    return cancel_pending(collecting())


def handed_over(s: Scenario) -> Scenario:
    s.customer(ASKS_FOR_PERSON)
    return s


#: A conversation in each state a customer may ask for a person (or for their data to be erased) from.
_IN_STATE: dict[ConversationState, Callable[[], Scenario]] = {
    C.IDLE: lambda: Scenario(PEDRO),
    C.COLLECTING: collecting,
    C.CONFIRMING: lambda: Scenario(PEDRO).up_to_confirming(),
    C.WAITING_TECHNICIAN: lambda: Scenario(PEDRO).up_to_offered(),
    C.CONFIRMING_CANCEL: lambda: cancel_pending(Scenario(PEDRO).up_to_offered()),
    C.JOB_IN_PROGRESS: lambda: Scenario(PEDRO).up_to_assigned(),
    C.AWAITING_RATING: lambda: Scenario(PEDRO).up_to_completed(),
    C.CLOSED: _closed,
}
CONVERSATION_STEPS.update(
    {(state, CT.HANDED_OVER): run(setup, lambda s: s.customer(ASKS_FOR_PERSON)) for state, setup in _IN_STATE.items()}
)
CONVERSATION_STEPS.update(
    {
        (C.HANDED_OVER, CT.TECHNICIAN_ASSIGNED): run(
            lambda: handed_over(Scenario(PEDRO).up_to_offered()), lambda s: s.accept(PEDRO)
        ),
        (C.HANDED_OVER, CT.NO_TECHNICIAN_AVAILABLE): run(
            lambda: handed_over(Scenario(PEDRO).up_to_offered()), lambda s: s.decline(PEDRO)
        ),
        (C.HANDED_OVER, CT.JOB_COMPLETED): run(
            lambda: handed_over(Scenario(PEDRO).up_to_assigned()), lambda s: s.done(PEDRO)
        ),
    }
)

BORRA_MIS_DATOS = says("borra mis datos", IntentName.UNKNOWN, confidence=0.3).model_copy(
    update={"asks_for_erasure": True}
)


def confirming_erasure(setup: Callable[[], Scenario]) -> Callable[[], Scenario]:
    def in_state() -> Scenario:
        s = setup()
        s.customer(BORRA_MIS_DATOS)
        return s

    return in_state


CONVERSATION_STEPS.update(
    {
        (state, CT.ERASURE_ASKED): run(_IN_STATE[state], lambda s: s.customer(BORRA_MIS_DATOS))
        for state in ERASURE_ASKED_FROM
    }
)
CONVERSATION_STEPS.update(
    {
        (C.CONFIRMING_ERASURE, CT.ERASURE_CONFIRMED): run(
            confirming_erasure(collecting), lambda s: s.customer(TAP_ERASE)
        ),
        (C.CONFIRMING_ERASURE, CT.LEAD_EXPIRED): run(confirming_erasure(collecting), lambda s: s.run(EXPIRE)),
    }
)

LEAD_STEPS: dict[tuple[LeadStatus, LeadTrigger], Step] = {
    (L.DRAFT, LT.FIELDS_CAPTURED): run(lambda: Scenario(PEDRO), lambda s: s.customer(FIRST_MESSAGE)),
    (L.DRAFT, LT.SUBMITTED): run(lambda: Scenario(PEDRO).up_to_confirming(), lambda s: s.customer(TAP_CONFIRM)),
    (L.DRAFT, LT.CANCELLED): run(collecting, lambda s: s.customer(CANCELAR)),
    (L.DRAFT, LT.EXPIRED): run(collecting, lambda s: s.run(EXPIRE)),
    (L.SUBMITTED, LT.OFFERED): run(lambda: Scenario(PEDRO).up_to_confirming(), lambda s: s.customer(TAP_CONFIRM)),
    (L.SUBMITTED, LT.UNMATCHED): _unmatched_on_confirm,
    (L.OFFERED, LT.FIELDS_CAPTURED): run(lambda: Scenario(PEDRO).up_to_offered(), lambda s: s.customer(NEW_ADDRESS)),
    (L.OFFERED, LT.OFFER_DECLINED): run(lambda: Scenario(PEDRO).up_to_offered(), lambda s: s.decline(PEDRO)),
    (L.OFFERED, LT.OFFER_EXPIRED): run(lambda: Scenario(PEDRO).up_to_offered(), lambda s: s.run(TIMEOUT)),
    (L.OFFERED, LT.ASSIGNED): run(lambda: Scenario(PEDRO).up_to_offered(), lambda s: s.accept(PEDRO)),
    (L.OFFERED, LT.CANCELLED): run(
        lambda: cancel_pending(Scenario(PEDRO).up_to_offered()), lambda s: s.customer(TAP_SURE_CANCEL)
    ),
    (L.ASSIGNED, LT.FIELDS_CAPTURED): run(lambda: Scenario(PEDRO).up_to_assigned(), lambda s: s.customer(NEW_ADDRESS)),
    (L.ASSIGNED, LT.JOB_COMPLETED): run(lambda: Scenario(PEDRO).up_to_assigned(), lambda s: s.done(PEDRO)),
    (L.ASSIGNED, LT.CANCELLED): run(
        lambda: cancel_pending(Scenario(PEDRO).up_to_assigned()), lambda s: s.customer(TAP_SURE_CANCEL)
    ),
    (L.ASSIGNED, LT.CLOSED): _closed_after_an_unanswered_follow_up,
    (L.COMPLETED, LT.RATED): run(lambda: Scenario(PEDRO).up_to_completed(), lambda s: s.customer(rating_tap(5))),
    (L.COMPLETED, LT.CLOSED): run(lambda: Scenario(PEDRO).up_to_completed(), lambda s: s.run(CLOSE)),
}


def lead_moves(before: CustomerState, events: list[Event]) -> list[tuple[LeadStatus, LeadTrigger, LeadStatus]]:
    moves = []
    state = before
    for event in events:
        after = evolve(state, event)
        trigger = LEAD_TRIGGER_OF_EVENT.get(event.TYPE)
        if trigger is not None and state.lead is not None and after.lead is not None:
            moves.append((state.lead.status, trigger, after.lead.status))
        state = after
    return moves


def test_every_conversation_transition_has_a_scenario() -> None:
    assert set(CONVERSATION_STEPS) == set(CONVERSATION_TRANSITIONS)


def test_every_lead_transition_has_a_scenario() -> None:
    assert set(LEAD_STEPS) == set(LEAD_TRANSITIONS)


@pytest.mark.parametrize(("source", "trigger"), list(CONVERSATION_STEPS), ids=lambda v: str(v))
def test_a_decision_takes_the_conversation_through_the_table_row(
    source: ConversationState, trigger: ConversationTrigger
) -> None:
    _, out = CONVERSATION_STEPS[(source, trigger)]()
    assert (source, trigger, CONVERSATION_TRANSITIONS[(source, trigger)]) in transitions(out)


@pytest.mark.parametrize(("source", "trigger"), list(LEAD_STEPS), ids=lambda v: str(v))
def test_a_decision_takes_the_lead_through_the_table_row(source: LeadStatus, trigger: LeadTrigger) -> None:
    s, out = LEAD_STEPS[(source, trigger)]()
    before = fold(s.events[: len(s.events) - len(out)])
    assert (source, trigger, LEAD_TRANSITIONS[(source, trigger)]) in lead_moves(before, out)


# ----------------------------------------------------------------------------- refused by evolve

_NOT_IN_CONVERSATION_TABLE = [(s, t) for s in C for t in CT if (s, t) not in CONVERSATION_TRANSITIONS]


@pytest.mark.parametrize(("source", "trigger"), _NOT_IN_CONVERSATION_TABLE, ids=lambda v: str(v))
def test_evolve_refuses_a_conversation_change_the_table_does_not_list(
    source: ConversationState, trigger: ConversationTrigger
) -> None:
    state = CustomerState(conversation=source)
    with pytest.raises(IllegalTransition):
        evolve(state, ConversationStateChanged(from_state=source, to_state=C.CLOSED, trigger=trigger))


def test_evolve_refuses_a_change_whose_target_differs_from_the_table() -> None:
    event = ConversationStateChanged(from_state=C.IDLE, to_state=C.CONFIRMING, trigger=CT.LEAD_STARTED)
    with pytest.raises(IllegalTransition):
        evolve(CustomerState(), event)


def test_evolve_refuses_a_change_from_a_state_the_conversation_is_not_in() -> None:
    event = ConversationStateChanged(from_state=C.COLLECTING, to_state=C.CONFIRMING, trigger=CT.ALL_FIELDS_CAPTURED)
    with pytest.raises(IllegalTransition):
        evolve(CustomerState(conversation=C.IDLE), event)


def _lead_event(trigger: LeadTrigger) -> Event:
    at = T0
    match trigger:
        case LT.FIELDS_CAPTURED:
            return LeadFieldsCaptured(lead_id=LEAD, fields=LeadFields(urgency=Urgency.HOY), captured_at=at)
        case LT.SUBMITTED:
            return LeadSubmitted(lead_id=LEAD, fields=LeadFields(), consent=True, submitted_at=at)
        case LT.OFFERED:
            return ProviderOffered(lead_id=LEAD, provider_id="pedro", attempt=1, offered_at=at)
        case LT.OFFER_DECLINED:
            return OfferDeclined(lead_id=LEAD, provider_id="pedro", wamid="w", declined_at=at)
        case LT.OFFER_EXPIRED:
            return OfferExpired(lead_id=LEAD, provider_id="pedro", expired_at=at)
        case LT.ASSIGNED:
            return LeadAssigned(
                lead_id=LEAD, provider_id="pedro", provider_name="P", provider_phone="5691", assigned_at=at
            )
        case LT.UNMATCHED:
            return LeadUnmatched(lead_id=LEAD, reason="none", unmatched_at=at)
        case LT.JOB_COMPLETED:
            return JobCompleted(
                lead_id=LEAD, provider_id="pedro", reported_by=CompletionReporter.TECHNICIAN, completed_at=at
            )
        case LT.RATED:
            return LeadRated(lead_id=LEAD, provider_id="pedro", rating=5, rated_at=at)
        case LT.CLOSED:
            return LeadClosed(lead_id=LEAD, previous_status=L.COMPLETED, reason="x", closed_at=at)
        case LT.CANCELLED:
            return LeadCancelled(lead_id=LEAD, previous_status=L.DRAFT, cancelled_at=at)
        case LT.EXPIRED:
            return LeadExpired(lead_id=LEAD, previous_status=L.DRAFT, expired_at=at)
    raise AssertionError(trigger)


def _state_with_lead(status: LeadStatus) -> CustomerState:
    # offered to and assigned to the same technician, so only the status decides legality
    lead = Lead(lead_id=LEAD, status=status, drafted_at=T0, offered_to="pedro", assigned_to="pedro")
    return CustomerState(customer_key=CUSTOMER, lead=lead, leads_started=1)


_NOT_IN_LEAD_TABLE = [(s, t) for s in L for t in LT if (s, t) not in LEAD_TRANSITIONS]


@pytest.mark.parametrize(("source", "trigger"), _NOT_IN_LEAD_TABLE, ids=lambda v: str(v))
def test_evolve_refuses_a_lead_event_the_table_does_not_allow(source: LeadStatus, trigger: LeadTrigger) -> None:
    with pytest.raises(IllegalTransition):
        evolve(_state_with_lead(source), _lead_event(trigger))


def test_every_lead_trigger_has_an_event_and_every_event_its_trigger() -> None:
    assert set(LEAD_TRIGGER_OF_EVENT.values()) == set(LT)
    for trigger in LT:
        assert LEAD_TRIGGER_OF_EVENT[_lead_event(trigger).TYPE] is trigger


def test_evolve_refuses_a_second_draft_while_a_lead_is_open() -> None:
    with pytest.raises(IllegalTransition):
        evolve(
            _state_with_lead(L.OFFERED),
            LeadDrafted(lead_id=f"{CUSTOMER}.2", customer_key=CUSTOMER, phone="569", drafted_at=T0),
        )


def test_evolve_refuses_an_event_about_another_lead() -> None:
    event = LeadFieldsCaptured(lead_id=f"{CUSTOMER}.9", fields=LeadFields(), captured_at=T0)
    with pytest.raises(IllegalTransition):
        evolve(_state_with_lead(L.DRAFT), event)


def test_evolve_refuses_an_acceptance_by_a_technician_who_was_not_offered_the_lead() -> None:
    lead = Lead(lead_id=LEAD, status=L.OFFERED, drafted_at=T0, offered_to="juana")
    state = CustomerState(customer_key=CUSTOMER, lead=lead, leads_started=1)
    event = LeadAssigned(lead_id=LEAD, provider_id="pedro", provider_name="P", provider_phone="5691", assigned_at=T0)
    with pytest.raises(IllegalTransition):
        evolve(state, event)


def test_evolve_refuses_a_completion_by_someone_other_than_the_assignee() -> None:
    state = _state_with_lead(L.ASSIGNED)
    event = JobCompleted(lead_id=LEAD, provider_id="juana", reported_by=CompletionReporter.TECHNICIAN, completed_at=T0)
    with pytest.raises(IllegalTransition):
        evolve(state, event)


def test_events_this_aggregate_does_not_use_only_advance_the_version() -> None:
    s = Scenario(PEDRO).up_to_offered()
    state = s.state
    assert state.version == len(s.events)
    assert fold(s.events[:1]).version == 1


def test_a_lead_started_after_a_closed_one_gets_the_next_number() -> None:
    s, _ = _closed_then_restart()
    assert s.state.lead is not None and s.state.lead.lead_id == f"{CUSTOMER}.2"
    assert s.state.leads_started == 2


# ----------------------------------------------------------------------------- the generated doc


def test_the_committed_state_machine_doc_matches_the_tables() -> None:
    assert DOC_PATH.read_text(encoding="utf-8") == render_state_machine_doc(), (
        "docs/state_machine.md is stale: run python -m devtools.render_state_tables"
    )
