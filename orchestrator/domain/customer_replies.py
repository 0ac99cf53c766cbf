"""What the customer reads: short, warm Chilean Spanish, deterministic (the LLM may only reword it later).

Every reply has a ``purpose`` naming what it is for, recorded in ``ReplyQueued``.
"""

from __future__ import annotations

from contracts.intent import Consent, Service, Urgency
from contracts.lead_events import LeadFields
from contracts.outbound import (
    MAX_INTERACTIVE_BODY,
    MAX_TEXT_BODY,
    ButtonsMessage,
    ListMessage,
    ListRow,
    ListSection,
    ReplyButton,
    TextMessage,
)
from orchestrator.domain import buttons
from orchestrator.domain.buttons import ConfirmChoice
from orchestrator.domain.model import PendingQuestion
from orchestrator.domain.presentation import (
    SERVICE_LABEL,
    SERVICE_PERSON,
    URGENCY_LABEL,
    Reply,
    changes_line,
    clip,
    format_phone,
    shown_name,
    summary_line,
)


def _text(purpose: str, body: str) -> Reply:
    return Reply(purpose, TextMessage(body=body))


def with_prefix(prefix: str, reply: Reply) -> Reply:
    """``reply`` with ``prefix`` before its body (same buttons / list). The question is what must go out
    whole: a prefix too long for WhatsApp's body limit is shortened with an ellipsis."""
    if not prefix:
        return reply
    body = reply.message.body
    limit = MAX_TEXT_BODY if isinstance(reply.message, TextMessage) else MAX_INTERACTIVE_BODY
    room = limit - len(body) - 1  # one for the space between them
    if len(prefix) > room:
        prefix = clip(prefix, room) if room > 1 else ""
        if not prefix:
            return reply
    # Re-validated (not model_copy): the body limits are checked again on the new body.
    message = type(reply.message).model_validate({**reply.message.model_dump(), "body": f"{prefix} {body}"})
    return Reply(reply.purpose, message)


# The fixed questions and rows are built (and validated) once: the messages are frozen, and the audit
# re-decides every reply of the store.
_ASK_SERVICE = Reply(
    "ask_service",
    ButtonsMessage(
        body="¿Qué servicio necesitas?",
        buttons=tuple(ReplyButton(id=buttons.service_id(s), title=SERVICE_LABEL[s]) for s in Service),
    ),
)
_ASK_URGENCY = Reply(
    "ask_urgency",
    ButtonsMessage(
        body="¿Qué tan urgente es?",
        buttons=tuple(ReplyButton(id=buttons.urgency_id(u), title=URGENCY_LABEL[u]) for u in Urgency),
    ),
)
_RATING_LABELS = {5: "Excelente", 4: "Muy bueno", 3: "Bueno", 2: "Regular", 1: "Malo"}
_RATING_ROWS = ListSection(
    rows=tuple(
        ListRow(id=buttons.rating_id(n), title=f"{'⭐' * n} {n}", description=label)
        for n, label in _RATING_LABELS.items()
    )
)
_ASK_CANCEL_CONFIRMATION = Reply(
    "ask_cancel_confirmation",
    ButtonsMessage(
        body="¿Seguro que quieres cancelar tu solicitud?",
        buttons=(
            ReplyButton(id=buttons.consent_id(Consent.YES), title="Sí, cancelar"),
            ReplyButton(id=buttons.consent_id(Consent.NO), title="No, seguir"),
        ),
    ),
)


_ASK_ERASURE_CONFIRMATION = Reply(
    "ask_erasure_confirmation",
    ButtonsMessage(
        body=(
            "Puedo borrar tus datos de ConectaPro: tu número, tu nombre, tus mensajes y los datos de tus "
            "solicitudes. Si tienes una solicitud abierta, la cancelo. No se puede deshacer. "
            "¿Borramos tus datos?"
        ),
        buttons=(
            ReplyButton(id=buttons.ERASURE_YES_ID, title="Sí, borrar"),
            ReplyButton(id=buttons.ERASURE_NO_ID, title="No"),
        ),
    ),
)
_ERASURE_REFUSED = Reply(
    "erasure_refused",
    ButtonsMessage(
        body=(
            "Ahora no puedo borrar tus datos: un técnico ya tiene tu solicitud y los necesita para atenderte. "
            "Cuando el trabajo termine puedes pedírmelo de nuevo, o te comunico con una persona del equipo."
        ),
        buttons=(ReplyButton(id=buttons.ASK_FOR_PERSON_ID, title="Hablar con alguien"),),
    ),
)


def ask_service(prefix: str = "") -> Reply:
    return with_prefix(prefix, _ASK_SERVICE)


def ask_urgency() -> Reply:
    return _ASK_URGENCY


def summary(fields: LeadFields, prefix: str = "") -> Reply:
    message = ButtonsMessage(
        body=f"Resumen: {summary_line(fields)}.\n¿Confirmas y autorizas compartir estos datos con el técnico?",
        buttons=(
            ReplyButton(id=buttons.confirm_id(ConfirmChoice.YES), title="Sí, confirmo"),
            ReplyButton(id=buttons.confirm_id(ConfirmChoice.FIX), title="Corregir"),
            ReplyButton(id=buttons.confirm_id(ConfirmChoice.CANCEL), title="Cancelar"),
        ),
    )
    return with_prefix(prefix, Reply("confirm_summary", message))


def ask_rating(body: str) -> Reply:
    return Reply("ask_rating", ListMessage(body=body, button="Calificar", sections=(_RATING_ROWS,)))


def ask_cancel_confirmation() -> Reply:
    return _ASK_CANCEL_CONFIRMATION


def ask_erasure_confirmation() -> Reply:
    return _ASK_ERASURE_CONFIRMATION


def erasure_refused() -> Reply:
    return _ERASURE_REFUSED


def erasure_withdrawn() -> str:
    return "Perfecto, no borré nada."


def erasure_goodbye() -> Reply:
    """The last message the customer gets from us: their data is erased right after it is sent."""
    return _text(
        "erasure_goodbye",
        "Listo: en unos instantes borramos tus datos y este es el último mensaje que te enviamos. "
        "Si nos escribes de nuevo, empezamos desde cero. ¡Gracias por usar ConectaPro!",
    )


def question_for(pending: PendingQuestion, fields: LeadFields, provider_name: str | None) -> Reply | None:
    """The question behind ``pending``, to ask again after an aside. None when nothing is pending."""
    match pending:
        case PendingQuestion.SERVICE:
            return ask_service()
        case PendingQuestion.COMUNA:
            return _text("ask_comuna", "¿En qué comuna es el trabajo?")
        case PendingQuestion.PROBLEM:
            return _text("ask_problem", "Cuéntame brevemente qué pasó.")
        case PendingQuestion.URGENCY:
            return ask_urgency()
        case PendingQuestion.ADDRESS:
            return _text("ask_address", "¿En qué dirección es el trabajo? (calle y número)")
        case PendingQuestion.CORRECTION:
            return ask_correction()
        case PendingQuestion.CONFIRMATION:
            return summary(fields)
        case PendingQuestion.CANCEL_CONFIRMATION:
            return ask_cancel_confirmation()
        case PendingQuestion.ERASURE_CONFIRMATION:
            return ask_erasure_confirmation()
        case PendingQuestion.RATING:
            who = provider_name or "el técnico"
            return ask_rating(f"¿Cómo evaluarías el trabajo de {who}? De 1 a 5.")
        case _:
            return None


def ask_correction() -> Reply:
    return _text(
        "ask_correction",
        'Claro, ¿qué quieres corregir? Escríbeme el dato nuevo, por ejemplo "la comuna es Providencia" '
        'o "la dirección es Los Leones 123".',
    )


def greeting(profile_name: str | None, *, returning: bool) -> str:
    name = f", {shown_name(profile_name)}" if profile_name else ""
    return f"¡Hola de nuevo{name}!" if returning else f"¡Hola{name}!"


def started_prefix(fields: LeadFields, hello: str) -> str:
    """``¡Hola! Te ayudo a conseguir un gasfiter en Ñuñoa.`` (what we understood from the first message)."""
    if fields.service is None:
        return f"{hello} Te ayudo a conseguir un técnico." if not fields.is_empty else hello
    where = f" en {fields.comuna}" if fields.comuna else ""
    return f"{hello} Te ayudo a conseguir {SERVICE_PERSON[fields.service]}{where}."


def welcome(profile_name: str | None, *, returning: bool, just_finished: bool = False) -> Reply:
    # Right after a lead ended, a message with nothing new is usually a "gracias": do not greet again.
    hello = "¡Con gusto!" if just_finished else greeting(profile_name, returning=returning)
    intro = (
        "Si necesitas otro técnico, cuéntame qué pasó o elige el servicio."
        if returning
        else "Soy ConectaPro y te ayudo a conseguir un técnico de confianza."
    )
    return ask_service(f"{hello} {intro}")


NOT_UNDERSTOOD = "Disculpa, no te entendí bien."
SMALLTALK = "¡Con gusto te ayudo!"
COMUNA_NOT_RECOGNISED = "No reconocí la comuna (por ejemplo: Ñuñoa, Maipú, Puente Alto)."
CORRECTED = "Listo, lo corregí."


def searching() -> Reply:
    return _text("searching", "¡Listo! Estamos buscando un técnico disponible. Te aviso apenas uno acepte.")


def consent_refused(fields: LeadFields) -> Reply:
    return summary(
        fields,
        "Sin tu autorización no podemos compartir tus datos con un técnico, y así no podemos enviarte uno.",
    )


def unmatched(fields: LeadFields) -> Reply:
    service = SERVICE_LABEL[fields.service].lower() if fields.service else "este servicio"
    return _text(
        "unmatched",
        f"Lo siento, en este momento no tenemos técnicos de {service} disponibles en {fields.comuna}. "
        "Cerré esta solicitud para no hacerte esperar; escríbeme más tarde y lo intentamos de nuevo.",
    )


def technician_assigned(provider_name: str, provider_phone: str) -> Reply:
    return _text(
        "technician_assigned",
        f"{provider_name} aceptó tu solicitud y te contactará al {format_phone(provider_phone)}. "
        'Puedes escribir "estado" cuando quieras.',
    )


def job_completed(provider_name: str) -> Reply:
    return ask_rating(f"{provider_name} marcó el trabajo como terminado. ¿Cómo lo evaluarías de 1 a 5?")


def follow_up(provider_name: str) -> Reply:
    return ask_rating(
        f"¿{provider_name} ya terminó el trabajo? Si es así, cuéntanos cómo te fue, de 1 a 5. "
        'Si todavía no, escribe "estado".'
    )


def thanks_for_rating() -> Reply:
    return _text("rated", "¡Gracias por tu calificación! Si necesitas otro técnico, escríbeme cuando quieras.")


def rating_not_expected(provider_name: str | None) -> Reply:
    who = provider_name or "el técnico"
    return _text(
        "rating_not_expected",
        f"Todavía no tenemos el trabajo como terminado. Cuando {who} lo termine, te pediré tu calificación.",
    )


def cancelled() -> Reply:
    return _text("cancelled", "Listo, cancelé tu solicitud. Si necesitas algo más, escríbeme.")


def nothing_to_cancel() -> Reply:
    return _text("nothing_to_cancel", "No tienes ninguna solicitud activa. Si necesitas un técnico, cuéntame qué pasó.")


def cannot_cancel_completed() -> str:
    return "El trabajo ya está terminado, así que no hay nada que cancelar."


def cancel_withdrawn() -> str:
    return "Perfecto, seguimos con tu solicitud."


def expired() -> Reply:
    return _text(
        "expired",
        "Como no alcanzamos a completar tu solicitud, la cerré por ahora. "
        "Cuando quieras, escríbeme y empezamos de nuevo. ¡Que estés bien!",
    )


def closed_unrated() -> Reply:
    return _text("closed", "Cerramos tu solicitud. ¡Gracias por usar ConectaPro!")


def fields_updated(changes: LeadFields, *, told_technician: str | None) -> Reply:
    told = f" Ya le avisé a {told_technician}." if told_technician else ""
    return _text("fields_updated", f"Listo, actualicé tu solicitud ({changes_line(changes)}).{told}")


def locked_fields() -> Reply:
    return _text(
        "locked_fields",
        "Para cambiar el servicio o la comuna tengo que cancelar esta solicitud y crear una nueva. "
        'Si quieres hacerlo, escribe "cancelar".',
    )


def message_failed() -> Reply:
    """A message of theirs could not be handled, even after retries (it is parked for an operator)."""
    return _text("message_failed", "Tuvimos un problema con tu mensaje, ¿puedes escribirlo de nuevo?")
