"""Interactive reply ids the domain puts on buttons and list rows, and the parsing of the ones it acts on.

The formats are shared with the understanding rules (``orchestrator.understanding.reply_ids``): service,
urgency and consent ids become fields of the :class:`~contracts.intent.Intent`; the ids whose meaning the
Intent cannot carry (confirmation choice, rating, technician actions) are read here from the raw reply id.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from contracts.comunas import normalize_text
from contracts.intent import Consent, Service, Urgency
from orchestrator.understanding import find_rating, parse_reply_id, reply_ids
from orchestrator.understanding.reply_ids import (
    JOB_DONE_PREFIX,
    OFFER_ACCEPT_PREFIX,
    OFFER_DECLINE_PREFIX,
    ReplyKind,
)


class ConfirmChoice(StrEnum):
    YES = "yes"
    FIX = "fix"
    CANCEL = "cancel"


_CONFIRM_IDS: dict[ConfirmChoice, str] = {
    ConfirmChoice.YES: reply_ids.CONFIRM_YES,
    ConfirmChoice.FIX: reply_ids.CONFIRM_FIX,
    ConfirmChoice.CANCEL: reply_ids.CONFIRM_CANCEL,
}
_CONFIRM_OF_KIND: dict[ReplyKind, ConfirmChoice] = {
    ReplyKind.CONFIRM_YES: ConfirmChoice.YES,
    ReplyKind.CONFIRM_FIX: ConfirmChoice.FIX,
    ReplyKind.CONFIRM_CANCEL: ConfirmChoice.CANCEL,
}


def service_id(service: Service) -> str:
    return reply_ids.service_id(service)


def urgency_id(urgency: Urgency) -> str:
    return reply_ids.urgency_id(urgency)


def consent_id(consent: Consent) -> str:
    return reply_ids.CONSENT_YES if consent is Consent.YES else reply_ids.CONSENT_NO


def confirm_id(choice: ConfirmChoice) -> str:
    return _CONFIRM_IDS[choice]


ERASURE_YES_ID = reply_ids.ERASURE_YES
ERASURE_NO_ID = reply_ids.ERASURE_NO
ASK_FOR_PERSON_ID = reply_ids.ASK_FOR_PERSON


def reply_kind(reply_id: str | None) -> ReplyKind | None:
    """What a tapped id of ours is (None for typed text or an id we never issued)."""
    parsed = parse_reply_id(reply_id) if reply_id is not None else None
    return parsed.kind if parsed is not None else None


def rating_id(stars: int) -> str:
    return reply_ids.rating_id(stars)


# Lead ids are ``<customer_key>.<n>``; built here from the shared prefixes.
def offer_accept_id(lead_id: str) -> str:
    return f"{OFFER_ACCEPT_PREFIX}{lead_id}"


def offer_decline_id(lead_id: str) -> str:
    return f"{OFFER_DECLINE_PREFIX}{lead_id}"


def job_done_id(lead_id: str) -> str:
    return f"{JOB_DONE_PREFIX}{lead_id}"


def parse_confirm(reply_id: str | None) -> ConfirmChoice | None:
    parsed = parse_reply_id(reply_id) if reply_id is not None else None
    return _CONFIRM_OF_KIND.get(parsed.kind) if parsed is not None else None


def parse_rating(reply_id: str | None, text: str | None) -> int | None:
    """A 1–5 rating from a tapped row (``rating:4``) or typed ("4", "4 estrellas", "cinco", "⭐⭐⭐⭐")."""
    if reply_id is not None:
        parsed = parse_reply_id(reply_id)
        return parsed.rating if parsed is not None and parsed.kind is ReplyKind.RATING else None
    return find_rating(text) if text else None


class TechnicianActionKind(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"
    DONE = "done"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class TechnicianAction:
    kind: TechnicianActionKind
    #: The lead named by the button; None for typed text (the handler resolves it from the technician).
    lead_id: str | None = None


# Whole-message words only: a technician writing "no puedo aceptar más" must not accept anything.
_TYPED_ACTIONS: dict[str, TechnicianActionKind] = {
    "acepto": TechnicianActionKind.ACCEPT,
    "aceptar": TechnicianActionKind.ACCEPT,
    "acepto el trabajo": TechnicianActionKind.ACCEPT,
    "lo tomo": TechnicianActionKind.ACCEPT,
    "rechazo": TechnicianActionKind.DECLINE,
    "rechazar": TechnicianActionKind.DECLINE,
    "no puedo": TechnicianActionKind.DECLINE,
    "paso": TechnicianActionKind.DECLINE,
    "terminado": TechnicianActionKind.DONE,
    "termine": TechnicianActionKind.DONE,
    "trabajo terminado": TechnicianActionKind.DONE,
    "listo": TechnicianActionKind.DONE,
    "hecho": TechnicianActionKind.DONE,
}


def parse_technician_action(reply_id: str | None, text: str | None) -> TechnicianAction:
    if reply_id is not None:
        for prefix, kind in (
            (OFFER_ACCEPT_PREFIX, TechnicianActionKind.ACCEPT),
            (OFFER_DECLINE_PREFIX, TechnicianActionKind.DECLINE),
            (JOB_DONE_PREFIX, TechnicianActionKind.DONE),
        ):
            if reply_id.startswith(prefix) and len(reply_id) > len(prefix):
                return TechnicianAction(kind, reply_id.removeprefix(prefix))
    if text is not None:
        typed = _TYPED_ACTIONS.get(normalize_text(text))
        if typed is not None:
            return TechnicianAction(typed)
    return TechnicianAction(TechnicianActionKind.OTHER)
