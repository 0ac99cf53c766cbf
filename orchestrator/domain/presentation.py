"""How domain values read in Chilean Spanish: service and urgency names, phone numbers, lead summaries."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.intent import Service, Urgency
from contracts.lead_events import LeadFields
from contracts.outbound import OutboundMessage

SERVICE_LABEL: dict[Service, str] = {
    Service.ELECTRICIDAD: "Electricidad",
    Service.GASFITERIA: "Gasfitería",
    Service.CERRAJERIA: "Cerrajería",
}

#: "Te ayudo a conseguir un gasfiter".
SERVICE_PERSON: dict[Service, str] = {
    Service.ELECTRICIDAD: "un electricista",
    Service.GASFITERIA: "un gasfiter",
    Service.CERRAJERIA: "un cerrajero",
}

URGENCY_LABEL: dict[Urgency, str] = {
    Urgency.HOY: "Hoy",
    Urgency.UNO_DOS_DIAS: "1-2 días",
    Urgency.SEMANA: "Esta semana",
}

FIELD_LABEL: dict[str, str] = {
    "service": "el servicio",
    "comuna": "la comuna",
    "problem": "el problema",
    "urgency": "la urgencia",
    "address": "la dirección",
}


@dataclass(frozen=True, slots=True)
class Reply:
    """A message to send and what it is for (``purpose``, recorded in ``ReplyQueued``)."""

    purpose: str
    message: OutboundMessage


MAX_PROBLEM_CHARS = 500
MAX_ADDRESS_CHARS = 200
#: Shown in summaries and offers: with these clips no interactive body can pass WhatsApp's 1,024 characters.
SHOWN_PROBLEM_CHARS = 300
SHOWN_NAME_CHARS = 40


def format_phone(wa_id: str) -> str:
    """``"56912345678"`` → ``"+56 9 1234 5678"``; other numbers just get their ``+``."""
    if len(wa_id) == 11 and wa_id.startswith("569") and wa_id.isdigit():
        return f"+56 9 {wa_id[3:7]} {wa_id[7:]}"
    return f"+{wa_id}" if wa_id.isdigit() else wa_id


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def field_value(fields: LeadFields, name: str) -> str:
    value = getattr(fields, name)
    if value is None:
        return "—"
    if isinstance(value, Service):
        return SERVICE_LABEL[value]
    if isinstance(value, Urgency):
        return URGENCY_LABEL[value]
    return str(value)


def shown_problem(fields: LeadFields) -> str:
    return clip(fields.problem or "", SHOWN_PROBLEM_CHARS)


def shown_name(name: str) -> str:
    return clip(name, SHOWN_NAME_CHARS)


def first_name(name: str) -> str:
    words = name.split()
    return shown_name(words[0]) if words else "técnico"


def summary_line(fields: LeadFields, *, with_address: bool = True) -> str:
    """``Gasfitería · Ñuñoa · Hoy · Irarrázaval 1234 · "se rompió la cañería"`` (set fields only)."""
    parts: list[str] = []
    if fields.service is not None:
        parts.append(SERVICE_LABEL[fields.service])
    if fields.comuna is not None:
        parts.append(fields.comuna)
    if fields.urgency is not None:
        parts.append(URGENCY_LABEL[fields.urgency])
    if with_address and fields.address is not None:
        parts.append(fields.address)
    if fields.problem is not None:
        parts.append(f'"{shown_problem(fields)}"')
    return " · ".join(parts)


def changes_line(fields: LeadFields) -> str:
    """``la dirección: Los Leones 123; la urgencia: Hoy`` for the fields set in ``fields``."""
    return "; ".join(f"{FIELD_LABEL[name]}: {field_value(fields, name)}" for name, value in fields if value is not None)
