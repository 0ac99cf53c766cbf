"""The technician side: offers, accept / decline, done, the rating — and every action that is not allowed."""

from __future__ import annotations

import pytest

from contracts.commands import HandleTechnicianMessage, Understanding
from contracts.intent import IntentName, UnderstandingSource
from contracts.lead_events import (
    CompletionReporter,
    ConversationState,
    JobCompleted,
    LeadRated,
    LeadStatus,
    LeadUnmatched,
    MatchingAttempted,
    OfferDeclined,
    ProviderOffered,
)
from contracts.outbound import ButtonsMessage
from orchestrator.leads_flow import (
    customer_key_of_lead,
    customer_stream_id,
    decide_unrouted_technician_message,
    deterministic_ids,
    route_technician_message,
)
from tests.unit.leads_flow_support import (
    CUSTOMER,
    FIRST_MESSAGE,
    JUANA,
    LEAD,
    PEDRO,
    T0,
    TAP_CONFIRM,
    Scenario,
    customer_replies,
    of_type,
    purposes,
    rating_tap,
    registered,
    says,
    technician_replies,
    texts,
    transitions,
    types,
)

DIEGO = registered("diego", "Diego Rojas", "56955556666")


def test_a_declined_offer_goes_to_the_next_candidate_who_accepts() -> None:
    s = Scenario(JUANA, PEDRO).up_to_offered()
    assert of_type(s.events, ProviderOffered)[0].provider_id == "juana"
    out = s.decline(JUANA)
    assert of_type(out, OfferDeclined)[0].provider_id == "juana"
    (attempt,) = of_type(out, MatchingAttempted)
    assert attempt.attempt == 2 and attempt.chosen_provider_id == "pedro"
    juana = next(c for c in attempt.candidates if c.provider_id == "juana")
    assert juana.eligible is False and juana.rejected_because == ("already passed on this lead",)
    assert [(r.to, r.purpose) for r in technician_replies(out)] == [
        (JUANA.phone, "offer_declined"),
        (PEDRO.phone, "job_offer"),
    ]
    assert customer_replies(out) == []  # the customer keeps waiting, nothing new to tell
    s.accept(PEDRO)
    assert s.state.lead is not None and s.state.lead.assigned_to == "pedro"
    assert s.state.conversation is ConversationState.JOB_IN_PROGRESS


def test_no_eligible_technician_leaves_the_lead_unmatched_and_tells_the_customer_honestly() -> None:
    s = Scenario(registered("luis", "Luis Mora", "56977778888", comunas=("Maipú",)))
    s.up_to_confirming()
    out = s.customer(TAP_CONFIRM)
    (unmatched,) = of_type(out, LeadUnmatched)
    assert unmatched.reason == "no technician offers Gasfiteria in Ñuñoa"
    assert of_type(out, MatchingAttempted)[0].outside_coverage == 1
    assert transitions(out)[-1] == ("waiting_technician", "no_technician_available", "closed")
    assert texts(out) == [
        "Lo siento, en este momento no tenemos técnicos de gasfitería disponibles en Ñuñoa. Cerré esta solicitud "
        "para no hacerte esperar; escríbeme más tarde y lo intentamos de nuevo."
    ]
    assert s.state.lead is not None and s.state.lead.status is LeadStatus.UNMATCHED


def test_the_last_candidate_declining_leaves_the_lead_unmatched() -> None:
    s = Scenario(PEDRO).up_to_offered()
    out = s.decline(PEDRO)
    assert "LeadUnmatched" in types(out)
    assert [r.purpose for r in customer_replies(out)] == ["unmatched"]
    assert s.state.conversation is ConversationState.CLOSED


def test_accepting_a_lead_already_assigned_to_someone_else_changes_nothing() -> None:
    s = Scenario(JUANA, PEDRO).up_to_offered()
    s.decline(JUANA)
    s.accept(PEDRO)
    out = s.accept(JUANA)
    assert types(out) == ["MessageReceived", "ReplyQueued"]
    assert purposes(out) == ["offer_unavailable"]


def test_accepting_twice_only_reminds_the_technician_the_job_is_theirs() -> None:
    s = Scenario(PEDRO).up_to_assigned()
    out = s.accept(PEDRO)
    assert types(out) == ["MessageReceived", "ReplyQueued"]
    assert purposes(out) == ["already_assigned"]


def test_a_technician_who_was_not_offered_the_lead_cannot_accept_or_decline_it() -> None:
    s = Scenario(PEDRO, DIEGO).up_to_offered()
    offered = s.state.lead.offered_to if s.state.lead else None
    other = DIEGO if offered == "pedro" else PEDRO
    for action in (s.accept, s.decline):
        out = action(other)
        assert types(out) == ["MessageReceived", "ReplyQueued"]
        assert purposes(out) == ["offer_unavailable"]
    assert s.state.lead is not None and s.state.lead.status is LeadStatus.OFFERED


def test_accepting_a_cancelled_lead_is_refused_politely() -> None:
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    s.customer(says("cancelar", IntentName.CANCEL))
    assert purposes(s.accept(PEDRO)) == ["offer_unavailable"]


def test_a_button_for_an_older_lead_of_the_same_customer_is_refused() -> None:
    s = Scenario(PEDRO).up_to_offered()
    out = s.accept(PEDRO, lead_id=f"{CUSTOMER}.7")
    assert purposes(out) == ["offer_unavailable"]


def test_done_before_accepting_is_refused() -> None:
    s = Scenario(PEDRO).up_to_offered()
    out = s.done(PEDRO)
    assert of_type(out, JobCompleted) == []
    assert purposes(out) == ["no_active_job"]


def test_done_by_a_technician_who_is_not_assigned_is_refused() -> None:
    s = Scenario(PEDRO, DIEGO).up_to_offered()
    assignee = PEDRO if s.state.lead and s.state.lead.offered_to == "pedro" else DIEGO
    other = DIEGO if assignee is PEDRO else PEDRO
    s.accept(assignee)
    assert purposes(s.done(other)) == ["no_active_job"]


def test_done_completes_the_job_and_asks_the_customer_for_a_rating() -> None:
    s = Scenario(PEDRO).up_to_assigned()
    out = s.done(PEDRO)
    assert of_type(out, JobCompleted)[0].reported_by is CompletionReporter.TECHNICIAN
    assert transitions(out) == [("job_in_progress", "job_completed", "awaiting_rating")]
    assert [r.purpose for r in customer_replies(out)] == ["ask_rating"]
    assert [r.purpose for r in technician_replies(out)] == ["job_done"]
    assert s.views["pedro"].active_jobs == 0


def test_done_twice_records_nothing_new() -> None:
    s = Scenario(PEDRO).up_to_completed()
    out = s.done(PEDRO)
    assert types(out) == ["MessageReceived", "ReplyQueued"]


def test_typed_words_work_like_the_buttons() -> None:
    s = Scenario(PEDRO).up_to_offered()
    s.technician(PEDRO, text="Acepto")
    assert s.lead_status() is LeadStatus.ASSIGNED
    s.technician(PEDRO, text="terminado")
    assert s.lead_status() is LeadStatus.COMPLETED


def test_other_text_from_the_offered_technician_repeats_the_offer() -> None:
    s = Scenario(PEDRO).up_to_offered()
    out = s.technician(PEDRO, text="a qué hora sería?")
    (reply,) = technician_replies(out)
    assert reply.purpose == "job_offer" and isinstance(reply.message, ButtonsMessage)


def test_other_text_from_the_assigned_technician_reminds_the_done_button() -> None:
    s = Scenario(PEDRO).up_to_assigned()
    assert purposes(s.technician(PEDRO, text="voy en camino")) == ["remind_done"]


# ---------------------------------------------------------------------------------------- rating


def test_a_rating_without_a_completed_job_is_not_recorded() -> None:
    s = Scenario(PEDRO).up_to_assigned()
    out = s.customer(rating_tap(5))
    assert of_type(out, LeadRated) == []
    assert purposes(out) == ["rating_not_expected"]


def test_a_rating_while_still_waiting_for_a_technician_is_not_recorded() -> None:
    s = Scenario(PEDRO).up_to_offered()
    out = s.customer(rating_tap(5))
    assert of_type(out, LeadRated) == []
    assert purposes(out) == ["rating_not_expected"]


def test_a_typed_number_before_the_job_is_done_is_not_taken_as_a_rating() -> None:
    s = Scenario(PEDRO).up_to_assigned()
    out = s.customer(says("estoy en el depto 5", IntentName.UNKNOWN, confidence=0.3))
    assert purposes(out) == ["status"]


def test_a_typed_rating_closes_the_lead_and_the_technician_hears_it() -> None:
    s = Scenario(PEDRO).up_to_completed()
    out = s.customer(says("4 estrellas", IntentName.UNKNOWN, confidence=0.0))
    assert of_type(out, LeadRated)[0].rating == 4
    assert transitions(out) == [("awaiting_rating", "lead_rated", "closed")]
    assert [r.purpose for r in technician_replies(out)] == ["rated"]
    assert s.views["pedro"].rating_count == 1


def test_something_else_while_awaiting_the_rating_asks_for_it_again() -> None:
    s = Scenario(PEDRO).up_to_completed()
    out = s.customer(says("gracias", IntentName.SMALLTALK))
    assert purposes(out) == ["ask_rating"]
    assert s.state.lead is not None and s.state.lead.status is LeadStatus.COMPLETED


# ----------------------------------------------------------------------------------------- routing


def test_a_typed_message_is_routed_to_the_only_lead_it_can_mean() -> None:
    s = Scenario(PEDRO).up_to_offered()
    assert route_technician_message(s.views["pedro"], None, "acepto") == LEAD
    assert route_technician_message(s.views["pedro"], None, "terminado") is None  # no job yet
    assert route_technician_message(s.views["pedro"], "offer:accept:x.3", None) == "x.3"
    assert route_technician_message(s.views["pedro"], "offer:accept:../etc", None) is None


def test_lead_ids_name_their_customer_stream() -> None:
    assert customer_key_of_lead("cabc123.12") == "cabc123"
    assert customer_stream_id(customer_key_of_lead(LEAD)) == f"customer-{CUSTOMER}"
    for bad in ("cabc123", "cabc.0", ".1", "a b.1", "x.1.2x"):
        with pytest.raises(ValueError):
            customer_key_of_lead(bad)


def test_a_technician_message_that_names_no_lead_gets_a_friendly_answer_on_their_own_stream() -> None:
    s = Scenario(PEDRO)
    command = HandleTechnicianMessage(
        command_id="w9",
        provider_id="pedro",
        phone=PEDRO.phone,
        wamid="w9",
        received_at=T0,
        understanding=Understanding(source=UnderstandingSource.RULES, text="hola"),
    )
    out = decide_unrouted_technician_message(
        command, provider=s.views["pedro"], now=T0, new_ids=deterministic_ids("w9")
    )
    assert types(out) == ["MessageReceived", "ReplyQueued"]
    assert texts(out)[0].startswith("Hola Pedro, por ahora no tienes ofertas ni trabajos pendientes.")
