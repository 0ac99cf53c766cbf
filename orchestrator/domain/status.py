"""Answers to "estado": read from the current state only, followed by the pending question if any."""

from __future__ import annotations

from contracts.lead_events import ConversationState, LeadStatus
from contracts.outbound import TextMessage
from orchestrator.domain import customer_replies
from orchestrator.domain.model import CustomerState, PendingQuestion
from orchestrator.domain.presentation import SERVICE_LABEL, Reply, format_phone, summary_line

_LAST_LEAD: dict[LeadStatus, str] = {
    LeadStatus.RATED: "Tu última solicitud ya terminó y la calificaste. ¡Gracias!",
    LeadStatus.CLOSED: "Tu última solicitud ya está cerrada.",
    LeadStatus.CANCELLED: "Tu última solicitud fue cancelada.",
    LeadStatus.EXPIRED: "Tu última solicitud se cerró porque quedó incompleta.",
    LeadStatus.UNMATCHED: "Para tu última solicitud no encontramos un técnico disponible.",
}
_NEW_REQUEST = "Si necesitas un técnico, cuéntame qué pasó."


def _text(body: str) -> Reply:
    return Reply("status", TextMessage(body=body))


def _searching(state: CustomerState) -> str:
    lead = state.lead
    if lead is None or lead.fields.service is None:
        return "Estamos buscando un técnico para tu solicitud."
    service = SERVICE_LABEL[lead.fields.service].lower()
    return f"Estamos buscando un técnico de {service} en {lead.fields.comuna}. Te aviso apenas uno acepte."


def _in_charge(state: CustomerState) -> str:
    lead = state.lead
    if lead is None or lead.provider_name is None or lead.provider_phone is None:
        return "Tu solicitud tiene un técnico asignado."
    return (
        f"{lead.provider_name} está a cargo de tu solicitud ({summary_line(lead.fields, with_address=False)}). "
        f"Su teléfono es {format_phone(lead.provider_phone)}."
    )


def _with_question(state: CustomerState, prefix: str) -> Reply:
    lead = state.lead
    question = customer_replies.question_for(
        state.pending_question,
        state.captured_fields,
        lead.provider_name if lead is not None else None,
    )
    return customer_replies.with_prefix(prefix, question) if question is not None else _text(prefix)


def status_reply(state: CustomerState) -> Reply:
    match state.conversation:
        case ConversationState.IDLE:
            return _text(f"No tienes solicitudes activas. {_NEW_REQUEST}")
        case ConversationState.CLOSED:
            last = _LAST_LEAD.get(state.lead.status, "") if state.lead is not None else ""
            return _text(f"{last} {_NEW_REQUEST}".strip())
        case ConversationState.COLLECTING:
            return _with_question(state, "Estamos armando tu solicitud.")
        case ConversationState.CONFIRMING:
            return _with_question(state, "Tu solicitud está lista para confirmar.")
        case ConversationState.WAITING_TECHNICIAN:
            return _text(_searching(state))
        case ConversationState.JOB_IN_PROGRESS:
            return _text(_in_charge(state))
        case ConversationState.CONFIRMING_CANCEL:
            lead = state.lead
            now = _in_charge(state) if lead is not None and lead.assigned_to else _searching(state)
            return _with_question(state, now)
        case ConversationState.AWAITING_RATING:
            return _with_question(state, "El trabajo ya está terminado.")
        case ConversationState.CONFIRMING_ERASURE:
            return _with_question(state, "")
    return _text(_NEW_REQUEST)  # handed over or erased: the bot does not answer there


def repeat_pending(state: CustomerState, prefix: str) -> Reply:
    """A short answer to an aside followed by the pending question (or the status when none is pending)."""
    if state.pending_question is PendingQuestion.NONE:
        base = status_reply(state)
        return customer_replies.with_prefix(prefix, base)
    return _with_question(state, prefix)
