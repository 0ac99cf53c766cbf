"""Ids of the interactive buttons and list rows we send, and their exact parsing.

Whoever builds an outbound interactive message takes its ids from here, and whoever reads the reply parses
it here, so the two can never drift apart. Ids are ``kind:value`` or ``kind:action:<lead_id>``; WhatsApp
echoes them back verbatim (at most 256 characters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from contracts.intent import Consent, Service, Urgency

SERVICE_GASFITERIA = "service:Gasfiteria"
SERVICE_ELECTRICIDAD = "service:Electricidad"
SERVICE_CERRAJERIA = "service:Cerrajeria"

URGENCY_HOY = "urgency:hoy"
URGENCY_1_2_DIAS = "urgency:1_2_dias"
URGENCY_SEMANA = "urgency:semana"

CONSENT_YES = "consent:yes"
CONSENT_NO = "consent:no"

CONFIRM_YES = "confirm:yes"
CONFIRM_FIX = "confirm:fix"
CONFIRM_CANCEL = "confirm:cancel"

ERASURE_YES = "erasure:yes"
ERASURE_NO = "erasure:no"
ASK_FOR_PERSON = "person:ask"

OFFER_ACCEPT_PREFIX = "offer:accept:"
OFFER_DECLINE_PREFIX = "offer:decline:"
JOB_DONE_PREFIX = "job:done:"
RATING_PREFIX = "rating:"

MIN_RATING = 1
MAX_RATING = 5

# A strict shape keeps a forged or truncated id from parsing.
# Lead ids are "<customer_key>.<n>" (orchestrator.domain.ids.lead_id_for).
_LEAD_ID = re.compile(r"[A-Za-z0-9_-]{1,128}\.[1-9][0-9]{0,8}")


class ReplyKind(StrEnum):
    SERVICE = "service"
    URGENCY = "urgency"
    CONSENT = "consent"
    CONFIRM_YES = "confirm_yes"
    CONFIRM_FIX = "confirm_fix"
    CONFIRM_CANCEL = "confirm_cancel"
    ERASURE_YES = "erasure_yes"
    ERASURE_NO = "erasure_no"
    ASK_FOR_PERSON = "ask_for_person"
    OFFER_ACCEPT = "offer_accept"
    OFFER_DECLINE = "offer_decline"
    JOB_DONE = "job_done"
    RATING = "rating"


@dataclass(frozen=True, slots=True)
class ParsedReply:
    """One reply id, decoded; only the attribute that belongs to ``kind`` is set."""

    kind: ReplyKind
    service: Service | None = None
    urgency: Urgency | None = None
    consent: Consent | None = None
    lead_id: str | None = None
    rating: int | None = None


def service_id(service: Service) -> str:
    return f"service:{service.value}"


def urgency_id(urgency: Urgency) -> str:
    return f"urgency:{urgency.value}"


def _checked_lead_id(lead_id: str) -> str:
    if not _LEAD_ID.fullmatch(lead_id):
        raise ValueError(f"lead id {lead_id!r} cannot travel in a reply id")
    return lead_id


def offer_accept_id(lead_id: str) -> str:
    return OFFER_ACCEPT_PREFIX + _checked_lead_id(lead_id)


def offer_decline_id(lead_id: str) -> str:
    return OFFER_DECLINE_PREFIX + _checked_lead_id(lead_id)


def job_done_id(lead_id: str) -> str:
    return JOB_DONE_PREFIX + _checked_lead_id(lead_id)


def rating_id(stars: int) -> str:
    if not MIN_RATING <= stars <= MAX_RATING:
        raise ValueError(f"rating must be {MIN_RATING}..{MAX_RATING}, got {stars}")
    return f"{RATING_PREFIX}{stars}"


_FIXED: dict[str, ParsedReply] = {
    **{service_id(s): ParsedReply(ReplyKind.SERVICE, service=s) for s in Service},
    **{urgency_id(u): ParsedReply(ReplyKind.URGENCY, urgency=u) for u in Urgency},
    CONSENT_YES: ParsedReply(ReplyKind.CONSENT, consent=Consent.YES),
    CONSENT_NO: ParsedReply(ReplyKind.CONSENT, consent=Consent.NO),
    CONFIRM_YES: ParsedReply(ReplyKind.CONFIRM_YES),
    CONFIRM_FIX: ParsedReply(ReplyKind.CONFIRM_FIX),
    CONFIRM_CANCEL: ParsedReply(ReplyKind.CONFIRM_CANCEL),
    ERASURE_YES: ParsedReply(ReplyKind.ERASURE_YES),
    ERASURE_NO: ParsedReply(ReplyKind.ERASURE_NO),
    ASK_FOR_PERSON: ParsedReply(ReplyKind.ASK_FOR_PERSON),
    **{rating_id(n): ParsedReply(ReplyKind.RATING, rating=n) for n in range(MIN_RATING, MAX_RATING + 1)},
}
_WITH_LEAD: tuple[tuple[str, ReplyKind], ...] = (
    (OFFER_ACCEPT_PREFIX, ReplyKind.OFFER_ACCEPT),
    (OFFER_DECLINE_PREFIX, ReplyKind.OFFER_DECLINE),
    (JOB_DONE_PREFIX, ReplyKind.JOB_DONE),
)


def parse_reply_id(reply_id: str) -> ParsedReply | None:
    """The exact meaning of an id we issued; None for anything else (no prefix guessing, no case folding)."""
    fixed = _FIXED.get(reply_id)
    if fixed is not None:
        return fixed
    for prefix, kind in _WITH_LEAD:
        if reply_id.startswith(prefix):
            lead_id = reply_id[len(prefix) :]
            return ParsedReply(kind, lead_id=lead_id) if _LEAD_ID.fullmatch(lead_id) else None
    return None
