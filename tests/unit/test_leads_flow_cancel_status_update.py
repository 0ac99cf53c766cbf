"""At any point: cancel (confirming first when a lead is active), ask for the status, change a field."""

from __future__ import annotations

from contracts.intent import IntentName, Service, Urgency
from contracts.lead_events import ConversationState, LeadCancelled, LeadFieldsCaptured, LeadStatus
from tests.unit.leads_flow_support import (
    FIRST_MESSAGE,
    JUANA,
    LEAD,
    PEDRO,
    TAP_CANCEL,
    TAP_CONFIRM,
    TAP_KEEP,
    TAP_SURE_CANCEL,
    Scenario,
    customer_replies,
    of_type,
    purposes,
    rating_tap,
    says,
    technician_replies,
    texts,
    transitions,
)

CANCELAR = says("cancelar", IntentName.CANCEL)
ESTADO = says("estado", IntentName.ASK_STATUS)


# ----------------------------------------------------------------------------------------- cancel


def test_cancel_with_nothing_started_says_there_is_nothing_to_cancel() -> None:
    s = Scenario(PEDRO)
    out = s.customer(CANCELAR)
    assert purposes(out) == ["nothing_to_cancel"]
    assert of_type(out, LeadCancelled) == []


def test_cancel_while_collecting_cancels_the_draft_at_once() -> None:
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    out = s.customer(CANCELAR)
    (cancelled,) = of_type(out, LeadCancelled)
    assert cancelled.previous_status is LeadStatus.DRAFT and cancelled.provider_id is None
    assert transitions(out) == [("collecting", "lead_cancelled", "closed")]
    assert purposes(out) == ["cancelled"]


def test_tapping_cancelar_on_the_summary_cancels_the_draft_at_once() -> None:
    s = Scenario(PEDRO).up_to_confirming()
    out = s.customer(TAP_CANCEL)
    assert transitions(out) == [("confirming", "lead_cancelled", "closed")]
    assert s.state.lead is not None and s.state.lead.status is LeadStatus.CANCELLED


def test_cancel_while_waiting_for_a_technician_asks_to_confirm_first() -> None:
    s = Scenario(PEDRO).up_to_offered()
    out = s.customer(CANCELAR)
    assert of_type(out, LeadCancelled) == []
    assert transitions(out) == [("waiting_technician", "cancel_requested", "confirming_cancel")]
    assert purposes(out) == ["ask_cancel_confirmation"]


def test_confirming_the_cancel_of_an_offered_lead_cancels_it_and_tells_the_offered_technician() -> None:
    s = Scenario(PEDRO).up_to_offered()
    s.customer(CANCELAR)
    out = s.customer(TAP_SURE_CANCEL)
    (cancelled,) = of_type(out, LeadCancelled)
    assert cancelled.previous_status is LeadStatus.OFFERED and cancelled.provider_id == "pedro"
    assert transitions(out) == [("confirming_cancel", "lead_cancelled", "closed")]
    assert [r.purpose for r in technician_replies(out)] == ["lead_cancelled"]
    assert s.views["pedro"].pending_offers == ()


def test_keeping_the_lead_after_asking_to_cancel_goes_back_to_waiting() -> None:
    s = Scenario(PEDRO).up_to_offered()
    s.customer(CANCELAR)
    out = s.customer(TAP_KEEP)
    assert transitions(out) == [("confirming_cancel", "cancel_withdrawn_while_waiting", "waiting_technician")]
    assert texts(out)[0].startswith("Perfecto, seguimos con tu solicitud. Estamos buscando")


def test_an_old_confirm_button_while_deciding_to_cancel_keeps_the_lead() -> None:
    s = Scenario(PEDRO).up_to_offered()
    s.customer(CANCELAR)
    out = s.customer(TAP_CONFIRM)
    assert of_type(out, LeadCancelled) == []
    assert transitions(out) == [("confirming_cancel", "cancel_withdrawn_while_waiting", "waiting_technician")]


def test_cancelling_an_assigned_job_frees_the_technician_and_tells_them() -> None:
    s = Scenario(PEDRO).up_to_assigned()
    assert s.views["pedro"].active_jobs == 1
    s.customer(CANCELAR)
    out = s.customer(says("sí", IntentName.CANCEL))
    assert of_type(out, LeadCancelled)[0].previous_status is LeadStatus.ASSIGNED
    assert [r.to for r in technician_replies(out)] == [PEDRO.phone]
    assert s.views["pedro"].active_jobs == 0


def test_keeping_an_assigned_job_after_asking_to_cancel_goes_back_to_the_job() -> None:
    s = Scenario(PEDRO).up_to_assigned()
    s.customer(CANCELAR)
    out = s.customer(TAP_KEEP)
    assert transitions(out) == [("confirming_cancel", "cancel_withdrawn_during_job", "job_in_progress")]


def test_something_else_while_confirming_a_cancel_asks_the_question_again() -> None:
    s = Scenario(PEDRO).up_to_offered()
    s.customer(CANCELAR)
    out = s.customer(says("mmm", IntentName.UNKNOWN, confidence=0.9))
    assert purposes(out) == ["ask_cancel_confirmation"]
    out = s.customer(ESTADO)
    assert purposes(out) == ["ask_cancel_confirmation"]
    assert texts(out)[0].startswith("Estamos buscando un técnico de gasfitería en Ñuñoa.")


def test_a_technician_accepting_while_the_customer_decides_to_cancel_keeps_the_question_open() -> None:
    s = Scenario(PEDRO).up_to_offered()
    s.customer(CANCELAR)
    out = s.accept(PEDRO)
    assert transitions(out) == []
    assert s.state.conversation is ConversationState.CONFIRMING_CANCEL
    out = s.customer(TAP_KEEP)
    assert transitions(out) == [("confirming_cancel", "cancel_withdrawn_during_job", "job_in_progress")]


def test_a_job_completed_while_the_customer_decides_to_cancel_moves_on_to_the_rating() -> None:
    s = Scenario(PEDRO).up_to_assigned()
    s.customer(CANCELAR)
    out = s.done(PEDRO)
    assert transitions(out) == [("confirming_cancel", "job_completed", "awaiting_rating")]


def test_cancel_after_the_job_is_done_is_refused_and_the_rating_asked_again() -> None:
    s = Scenario(PEDRO).up_to_completed()
    out = s.customer(CANCELAR)
    assert of_type(out, LeadCancelled) == []
    assert purposes(out) == ["ask_rating"]
    assert texts(out)[0].startswith("El trabajo ya está terminado, así que no hay nada que cancelar.")


def test_cancel_after_a_closed_lead_says_there_is_nothing_to_cancel() -> None:
    s = Scenario(PEDRO).up_to_completed()
    s.customer(rating_tap(5))
    assert purposes(s.customer(CANCELAR)) == ["nothing_to_cancel"]


# ----------------------------------------------------------------------------------------- status


def test_status_with_no_lead_says_there_is_none() -> None:
    assert texts(Scenario(PEDRO).customer(ESTADO)) == [
        "No tienes solicitudes activas. Si necesitas un técnico, cuéntame qué pasó."
    ]


def test_status_while_collecting_repeats_the_pending_question() -> None:
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    out = s.customer(ESTADO)
    assert purposes(out) == ["ask_urgency"]
    assert texts(out)[0].startswith("Estamos armando tu solicitud. ¿Qué tan urgente es?")


def test_status_while_confirming_shows_the_summary() -> None:
    out = Scenario(PEDRO).up_to_confirming().customer(ESTADO)
    assert texts(out)[0].startswith("Tu solicitud está lista para confirmar. Resumen:")


def test_status_while_waiting_says_we_are_searching() -> None:
    out = Scenario(PEDRO).up_to_offered().customer(ESTADO)
    assert texts(out) == ["Estamos buscando un técnico de gasfitería en Ñuñoa. Te aviso apenas uno acepte."]


def test_status_during_the_job_names_the_technician_and_their_phone() -> None:
    out = Scenario(PEDRO).up_to_assigned().customer(ESTADO)
    assert texts(out) == [
        'Pedro Soto está a cargo de tu solicitud (Gasfitería · Ñuñoa · Hoy · "se rompió la cañería del baño"). '
        "Su teléfono es +56 9 1111 2222."
    ]


def test_status_while_awaiting_the_rating_asks_for_it() -> None:
    out = Scenario(PEDRO).up_to_completed().customer(ESTADO)
    assert purposes(out) == ["ask_rating"]


def test_status_after_a_cancelled_lead_says_it_was_cancelled() -> None:
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    s.customer(CANCELAR)
    assert texts(s.customer(ESTADO)) == [
        "Tu última solicitud fue cancelada. Si necesitas un técnico, cuéntame qué pasó."
    ]


def test_smalltalk_while_waiting_answers_with_the_status() -> None:
    out = Scenario(PEDRO).up_to_offered().customer(says("gracias!", IntentName.SMALLTALK))
    assert texts(out)[0].startswith("¡Con gusto te ayudo! Estamos buscando un técnico")


# ----------------------------------------------------------------------------------------- update


def test_changing_the_address_after_submitting_is_recorded_and_confirmed() -> None:
    s = Scenario(PEDRO).up_to_offered()
    out = s.customer(says("la dirección es Grecia 55", IntentName.UPDATE_LEAD, address="Grecia 55"))
    assert of_type(out, LeadFieldsCaptured)[0].fields.address == "Grecia 55"
    assert texts(out) == ["Listo, actualicé tu solicitud (la dirección: Grecia 55)."]
    assert technician_replies(out) == []  # the offered technician has no address before accepting


def test_changing_the_urgency_during_the_job_tells_the_technician() -> None:
    s = Scenario(PEDRO).up_to_assigned()
    out = s.customer(says("ya no es urgente, esta semana", IntentName.UPDATE_LEAD, urgency=Urgency.SEMANA))
    assert [r.purpose for r in technician_replies(out)] == ["customer_update"]
    assert "la urgencia: Esta semana" in technician_replies(out)[0].message.plain_text
    assert customer_replies(out)[0].message.plain_text.endswith("Ya le avisé a Pedro Soto.")


def test_changing_the_service_or_comuna_after_submitting_is_refused_with_a_way_out() -> None:
    s = Scenario(PEDRO, JUANA).up_to_offered()
    out = s.customer(says("es en providencia", IntentName.UPDATE_LEAD, comuna="Providencia"))
    assert of_type(out, LeadFieldsCaptured) == []
    assert purposes(out) == ["locked_fields"]
    out = s.customer(says("mejor un electricista", IntentName.UPDATE_LEAD, service=Service.ELECTRICIDAD))
    assert purposes(out) == ["locked_fields"]


def test_repeating_a_submitted_value_changes_nothing_and_answers_the_status() -> None:
    s = Scenario(PEDRO).up_to_offered()
    out = s.customer(says("es en ñuñoa", IntentName.UPDATE_LEAD, comuna="Ñuñoa"))
    assert of_type(out, LeadFieldsCaptured) == []
    assert purposes(out) == ["status"]
    assert s.state.lead is not None and s.state.lead.lead_id == LEAD
