"""Collecting the fields and confirming the summary: ask only for what is missing, assume nothing."""

from __future__ import annotations

from contracts.intent import Consent, IntentName, Service, Urgency
from contracts.lead_events import ConversationState, IntentExtracted, LeadFieldsCaptured, LeadStatus, LeadSubmitted
from contracts.outbound import ButtonsMessage
from tests.unit.leads_flow_support import (
    ADDRESS,
    FIRST_MESSAGE,
    PEDRO,
    TAP_CONFIRM,
    TAP_FIX,
    TAP_HOY,
    Scenario,
    customer_replies,
    of_type,
    purposes,
    says,
    taps,
    texts,
    transitions,
    types,
)

EVERYTHING = says(
    "necesito un gasfiter hoy en Ñuñoa, se rompió la cañería del baño, vivo en Irarrázaval 1234",
    service=Service.GASFITERIA,
    comuna="Ñuñoa",
    problem_type="se rompió la cañería del baño",
    urgency=Urgency.HOY,
    address="Irarrázaval 1234",
)


def test_one_message_with_every_field_goes_straight_to_the_summary() -> None:
    s = Scenario(PEDRO)
    out = s.customer(EVERYTHING)
    assert transitions(out) == [
        ("idle", "lead_started", "collecting"),
        ("collecting", "all_fields_captured", "confirming"),
    ]
    assert purposes(out) == ["confirm_summary"]
    assert texts(out)[0].startswith("¡Hola, Camila! Te ayudo a conseguir un gasfiter en Ñuñoa. Resumen:")


def test_a_greeting_alone_gets_a_welcome_with_the_three_services_and_starts_nothing() -> None:
    s = Scenario(PEDRO)
    out = s.customer(says("hola", IntentName.SMALLTALK))
    (reply,) = customer_replies(out)
    assert reply.purpose == "ask_service"
    assert isinstance(reply.message, ButtonsMessage)
    assert [b.title for b in reply.message.buttons] == ["Electricidad", "Gasfitería", "Cerrajería"]
    assert [b.id for b in reply.message.buttons] == ["service:Electricidad", "service:Gasfiteria", "service:Cerrajeria"]
    assert s.state.lead is None and s.state.conversation is ConversationState.IDLE


def test_tapping_a_service_after_the_welcome_starts_the_lead_without_greeting_twice() -> None:
    s = Scenario(PEDRO)
    s.customer(says("hola", IntentName.SMALLTALK))
    out = s.customer(taps("service:Cerrajeria", IntentName.CREATE_LEAD, service=Service.CERRAJERIA))
    assert texts(out) == ["Te ayudo a conseguir un cerrajero. ¿En qué comuna es el trabajo?"]


def test_the_fields_are_asked_in_order_service_comuna_problem_urgency_address() -> None:
    s = Scenario(PEDRO)
    asked = [purposes(s.customer(says("necesito un técnico")))[0]]
    asked.append(purposes(s.customer(taps("service:Gasfiteria", service=Service.GASFITERIA)))[0])
    asked.append(purposes(s.customer(says("en ñuñoa", comuna="Ñuñoa")))[0])
    asked.append(purposes(s.customer(says("gotea la llave del lavaplatos", problem_type="gotea la llave")))[0])
    asked.append(purposes(s.customer(TAP_HOY))[0])
    asked.append(purposes(s.customer(ADDRESS))[0])
    assert asked == ["ask_service", "ask_comuna", "ask_problem", "ask_urgency", "ask_address", "confirm_summary"]


def test_low_confidence_assumes_nothing_and_asks_the_pending_question_again() -> None:
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    out = s.customer(says("mmm quizás mañana en maipú", confidence=0.6, urgency=Urgency.UNO_DOS_DIAS, comuna="Maipú"))
    assert of_type(out, LeadFieldsCaptured) == []
    (extracted,) = of_type(out, IntentExtracted)
    assert extracted.accepted is False and extracted.intent.comuna == "Maipú"  # recorded, not used
    assert texts(out)[0].startswith("Disculpa, no te entendí bien. ¿Qué tan urgente es?")
    assert s.state.lead is not None and s.state.lead.fields.comuna == "Ñuñoa"


def test_low_confidence_on_a_first_message_starts_no_lead() -> None:
    s = Scenario(PEDRO)
    out = s.customer(says("gasfiter ñuñoa?", confidence=0.5, service=Service.GASFITERIA, comuna="Ñuñoa"))
    assert "LeadDrafted" not in types(out)
    assert purposes(out) == ["ask_service"]


def test_smalltalk_mid_flow_gets_a_short_answer_and_the_pending_question_again() -> None:
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    s.customer(TAP_HOY)
    out = s.customer(says("jaja gracias", IntentName.SMALLTALK))
    assert texts(out) == ["¡Con gusto te ayudo! ¿En qué dirección es el trabajo? (calle y número)"]
    assert transitions(out) == []


def test_an_unknown_message_while_collecting_says_so_and_asks_again() -> None:
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    out = s.customer(says("asdf", IntentName.UNKNOWN, confidence=0.9))
    assert texts(out)[0].startswith("Disculpa, no te entendí bien. ¿Qué tan urgente es?")


def test_a_comuna_outside_the_allowlist_stays_empty_and_is_asked_again() -> None:
    s = Scenario(PEDRO)
    s.customer(says("necesito un gasfiter", service=Service.GASFITERIA))
    out = s.customer(says("en springfield", IntentName.CREATE_LEAD, comuna="Springfield"))
    assert of_type(out, LeadFieldsCaptured) == []
    assert texts(out) == ["¿En qué comuna es el trabajo?"]
    out = s.customer(says("en springfield", IntentName.UNKNOWN, confidence=0.9))
    assert texts(out)[0].startswith("No reconocí la comuna")


def test_the_typed_answer_to_the_problem_question_is_the_description() -> None:
    s = Scenario(PEDRO)
    s.customer(says("necesito un gasfiter en ñuñoa", service=Service.GASFITERIA, comuna="Ñuñoa"))
    out = s.customer(says("el calefont no prende", IntentName.UNKNOWN, confidence=0.0))
    (captured,) = of_type(out, LeadFieldsCaptured)
    assert captured.fields.problem == "el calefont no prende"
    assert purposes(out) == ["ask_urgency"]


def test_a_greeting_is_not_taken_as_the_problem_description() -> None:
    s = Scenario(PEDRO)
    s.customer(says("necesito un gasfiter en ñuñoa", service=Service.GASFITERIA, comuna="Ñuñoa"))
    out = s.customer(says("hola buenas", IntentName.SMALLTALK))
    assert of_type(out, LeadFieldsCaptured) == []
    assert purposes(out) == ["ask_problem"]


def test_a_very_long_description_is_clipped_not_refused() -> None:
    s = Scenario(PEDRO)
    s.customer(says("necesito un gasfiter en ñuñoa", service=Service.GASFITERIA, comuna="Ñuñoa"))
    out = s.customer(says("x " * 600, problem_type="agua " * 200))
    problem = of_type(out, LeadFieldsCaptured)[0].fields.problem
    assert problem is not None and len(problem) == 500 and problem.endswith("…")


def test_repeating_a_field_already_given_captures_nothing_new() -> None:
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    out = s.customer(says("es en ñuñoa", comuna="Ñuñoa"))
    assert of_type(out, LeadFieldsCaptured) == []
    assert purposes(out) == ["ask_urgency"]


def test_update_lead_while_collecting_changes_the_given_field() -> None:
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    out = s.customer(says("perdón, es en providencia", IntentName.UPDATE_LEAD, comuna="Providencia"))
    assert of_type(out, LeadFieldsCaptured)[0].fields.comuna == "Providencia"
    assert s.state.lead is not None and s.state.lead.fields.comuna == "Providencia"


# ------------------------------------------------------------------------------------ confirming


def test_a_typed_yes_confirms_the_summary_and_submits_the_lead() -> None:
    s = Scenario(PEDRO).up_to_confirming()
    out = s.customer(says("sí, dale", IntentName.CREATE_LEAD, consent=Consent.YES))
    assert len(of_type(out, LeadSubmitted)) == 1
    assert s.state.conversation is ConversationState.WAITING_TECHNICIAN


def test_tapping_corregir_asks_what_to_correct_and_the_new_value_brings_the_summary_back() -> None:
    s = Scenario(PEDRO).up_to_confirming()
    out = s.customer(TAP_FIX)
    assert transitions(out) == [("confirming", "correction_requested", "collecting")]
    assert purposes(out) == ["ask_correction"]
    out = s.customer(says("la dirección es Los Leones 123", IntentName.UPDATE_LEAD, address="Los Leones 123"))
    assert transitions(out) == [("collecting", "all_fields_captured", "confirming")]
    assert texts(out)[0].startswith("Listo, lo corregí. Resumen: Gasfitería · Ñuñoa · Hoy · Los Leones 123")


def test_a_message_without_a_new_value_while_correcting_asks_again() -> None:
    s = Scenario(PEDRO).up_to_confirming()
    s.customer(TAP_FIX)
    out = s.customer(says("eh", IntentName.UNKNOWN, confidence=0.9))
    assert purposes(out) == ["ask_correction"]


def test_confirming_while_correcting_without_a_change_brings_the_summary_back() -> None:
    s = Scenario(PEDRO).up_to_confirming()
    s.customer(TAP_FIX)
    out = s.customer(TAP_CONFIRM)
    assert transitions(out) == [("collecting", "all_fields_captured", "confirming")]
    assert purposes(out) == ["confirm_summary"]


def test_a_new_value_while_confirming_updates_the_summary() -> None:
    s = Scenario(PEDRO).up_to_confirming()
    out = s.customer(says("mejor esta semana", IntentName.UPDATE_LEAD, urgency=Urgency.SEMANA))
    assert of_type(out, LeadFieldsCaptured)[0].fields.urgency is Urgency.SEMANA
    assert "Esta semana" in texts(out)[0]
    assert s.state.conversation is ConversationState.CONFIRMING


def test_refusing_consent_submits_nothing_and_explains_why() -> None:
    s = Scenario(PEDRO).up_to_confirming()
    out = s.customer(says("no autorizo", IntentName.CREATE_LEAD, consent=Consent.NO))
    assert of_type(out, LeadSubmitted) == []
    assert texts(out)[0].startswith("Sin tu autorización no podemos compartir tus datos")
    assert s.state.lead is not None and s.state.lead.status is LeadStatus.DRAFT


def test_smalltalk_while_confirming_repeats_the_summary() -> None:
    s = Scenario(PEDRO).up_to_confirming()
    out = s.customer(says("buena", IntentName.SMALLTALK))
    assert purposes(out) == ["confirm_summary"]
    assert texts(out)[0].startswith("¡Con gusto te ayudo! Resumen:")
