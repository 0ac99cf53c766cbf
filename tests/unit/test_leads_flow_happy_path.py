"""The DESIGN.md sample conversation, end to end, as one story."""

from __future__ import annotations

from contracts.commands import Understanding
from contracts.intent import IntentName, Service, UnderstandingSource, Urgency
from contracts.lead_events import (
    ConversationState,
    LeadAssigned,
    LeadRated,
    LeadStatus,
    LeadSubmitted,
    MatchingAttempted,
    ProviderOffered,
)
from contracts.outbound import ButtonsMessage, ListMessage
from orchestrator.domain.model import EXPECTING_OF_PENDING, PendingQuestion
from orchestrator.understanding import EXPECTING, understand_interactive, understand_text
from tests.unit.leads_flow_support import (
    ADDRESS,
    CUSTOMER_PHONE,
    FIRST_MESSAGE,
    LEAD,
    PEDRO,
    TAP_CONFIRM,
    TAP_HOY,
    Scenario,
    customer_replies,
    of_type,
    purposes,
    rating_tap,
    says,
    technician_replies,
    texts,
    types,
)


def test_the_sample_conversation_gets_a_gasfiter_to_nunoa_and_ends_rated() -> None:
    s = Scenario(PEDRO)

    # Cliente: hola, se me rompió la cañería del baño y está saliendo agua, estoy en ñuñoa
    out = s.customer(FIRST_MESSAGE)
    (reply,) = customer_replies(out)
    assert reply.purpose == "ask_urgency"
    assert isinstance(reply.message, ButtonsMessage)
    assert reply.message.body.startswith("¡Hola, Camila! Te ayudo a conseguir un gasfiter en Ñuñoa.")
    assert [b.title for b in reply.message.buttons] == ["Hoy", "1-2 días", "Esta semana"]
    assert reply.to == CUSTOMER_PHONE

    # Cliente: (toca Hoy)
    out = s.customer(TAP_HOY)
    assert [r.message.plain_text for r in customer_replies(out)] == [
        "¿En qué dirección es el trabajo? (calle y número)"
    ]

    # Cliente: irarrázaval 1234 depto 5
    out = s.customer(ADDRESS)
    (summary,) = customer_replies(out)
    assert isinstance(summary.message, ButtonsMessage)
    assert summary.message.body == (
        'Resumen: Gasfitería · Ñuñoa · Hoy · Irarrázaval 1234 depto 5 · "se rompió la cañería del baño".\n'
        "¿Confirmas y autorizas compartir estos datos con el técnico?"
    )
    assert [b.title for b in summary.message.buttons] == ["Sí, confirmo", "Corregir", "Cancelar"]

    # Cliente: (toca Sí, confirmo)
    out = s.customer(TAP_CONFIRM)
    (submitted,) = of_type(out, LeadSubmitted)
    assert submitted.consent is True
    assert submitted.fields.urgency is Urgency.HOY
    assert of_type(out, MatchingAttempted)[0].chosen_provider_id == "pedro"
    assert of_type(out, ProviderOffered)[0].provider_id == "pedro"
    assert [r.message.plain_text for r in customer_replies(out)] == [
        "¡Listo! Estamos buscando un técnico disponible. Te aviso apenas uno acepte."
    ]
    (offer,) = technician_replies(out)
    assert offer.to == PEDRO.phone
    assert isinstance(offer.message, ButtonsMessage)
    assert "Gasfitería · Ñuñoa · Hoy" in offer.message.body
    assert "se rompió la cañería del baño" in offer.message.body
    assert CUSTOMER_PHONE not in offer.message.body and "Irarrázaval" not in offer.message.body
    assert [b.id for b in offer.message.buttons] == [f"offer:accept:{LEAD}", f"offer:decline:{LEAD}"]

    # Técnico: (toca Aceptar)
    out = s.accept(PEDRO)
    assert of_type(out, LeadAssigned)[0].provider_name == "Pedro Soto"
    assert [r.message.plain_text for r in customer_replies(out)] == [
        'Pedro Soto aceptó tu solicitud y te contactará al +56 9 1111 2222. Puedes escribir "estado" cuando quieras.'
    ]
    (contact,) = technician_replies(out)
    assert "+56 9 8765 4321" in contact.message.plain_text
    assert "Irarrázaval 1234 depto 5, Ñuñoa" in contact.message.plain_text
    assert s.views["pedro"].active_jobs == 1

    # Cliente: estado
    out = s.customer(says("estado", IntentName.ASK_STATUS))
    assert "Pedro Soto está a cargo de tu solicitud" in customer_replies(out)[0].message.plain_text

    # Técnico: (toca Terminado) → the customer is asked for a rating
    out = s.done(PEDRO)
    (ask,) = customer_replies(out)
    assert isinstance(ask.message, ListMessage)
    assert [row.id for row in ask.message.sections[0].rows] == [f"rating:{n}" for n in (5, 4, 3, 2, 1)]
    assert s.conversation() is ConversationState.AWAITING_RATING

    # Cliente: (elige 5)
    out = s.customer(rating_tap(5))
    assert of_type(out, LeadRated)[0].rating == 5
    assert s.conversation() is ConversationState.CLOSED
    assert s.lead_status() is LeadStatus.RATED
    assert s.views["pedro"].rating_avg == 5.0
    assert s.views["pedro"].active_jobs == 0


def test_every_step_of_the_sample_records_what_came_in_and_what_was_understood() -> None:
    s = Scenario(PEDRO)
    out = s.customer(FIRST_MESSAGE)
    assert types(out)[:2] == ["MessageReceived", "IntentExtracted"]
    assert types(out)[2:] == ["LeadDrafted", "ConversationStateChanged", "LeadFieldsCaptured", "ReplyQueued"]


def test_a_thanks_right_after_the_rating_is_not_greeted_as_a_new_visit() -> None:
    s = Scenario(PEDRO).up_to_completed()
    s.customer(rating_tap(5))
    out = s.customer(says("gracias!", IntentName.SMALLTALK))
    assert texts(out)[0].startswith("¡Con gusto! Si necesitas otro técnico")
    assert s.state.lead is not None and s.state.lead.lead_id == LEAD


def test_a_customer_who_comes_back_after_a_rated_lead_starts_a_new_one() -> None:
    s = Scenario(PEDRO).up_to_completed()
    s.customer(rating_tap(4))
    out = s.customer(says("hola de nuevo, ahora se tapó el lavaplatos", service=Service.GASFITERIA))
    assert s.state.lead is not None and s.state.lead.lead_id.endswith(".2")
    assert s.state.conversation is ConversationState.COLLECTING
    assert customer_replies(out)[0].message.plain_text.startswith("¡Hola de nuevo, Camila!")


# ------------------------------------------------------------- through the real understanding rules


def _real_text(s: Scenario, text: str) -> Understanding:
    return Understanding(intent=understand_text(text, s.state.expecting), source=UnderstandingSource.RULES, text=text)


def _real_tap(reply_id: str) -> Understanding:
    return Understanding(
        intent=understand_interactive(reply_id), source=UnderstandingSource.INTERACTIVE, reply_id=reply_id
    )


def test_the_sample_conversation_works_through_the_real_understanding_rules() -> None:
    s = Scenario(PEDRO)
    out = s.customer(_real_text(s, "hola, se me rompió la cañería del baño y está saliendo agua, estoy en ñuñoa"))
    assert purposes(out) == ["ask_urgency"]
    assert purposes(s.customer(_real_tap("urgency:hoy"))) == ["ask_address"]
    assert purposes(s.customer(_real_text(s, "irarrázaval 1234 depto 5"))) == ["confirm_summary"]
    out = s.customer(_real_tap("confirm:yes"))
    assert purposes(out) == ["searching", "job_offer"]
    s.accept(PEDRO)
    assert "Pedro Soto está a cargo" in texts(s.customer(_real_text(s, "estado")))[0]
    s.done(PEDRO)
    s.customer(_real_text(s, "4 estrellas"))
    assert s.state.lead is not None and s.state.lead.rating == 4


def test_every_pending_question_maps_to_something_the_rules_accept() -> None:
    assert set(EXPECTING_OF_PENDING) == set(PendingQuestion)
    assert set(EXPECTING_OF_PENDING.values()) <= {*EXPECTING, None}
