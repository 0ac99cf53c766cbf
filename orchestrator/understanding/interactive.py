"""A tapped button or list row, as an ``Intent``: an exact table, confidence 1.0, no interpretation.

Technician and rating replies carry data the Intent shape has no field for (the lead id, the stars), so
their Intent says only what fits (an accepted offer is a "yes", a declined one a "no"); read the rest with
``parse_reply_id``. An id we never issued is not understood at all: confidence 0.
"""

from __future__ import annotations

from contracts.intent import Consent, Intent, IntentName
from orchestrator.understanding.reply_ids import ParsedReply, ReplyKind, parse_reply_id

EXACT = 1.0


def _intent_for(reply: ParsedReply) -> Intent:
    match reply.kind:
        case ReplyKind.SERVICE | ReplyKind.URGENCY | ReplyKind.CONSENT:
            return Intent(
                intent=IntentName.CREATE_LEAD,
                service=reply.service,
                urgency=reply.urgency,
                consent=reply.consent,
                confidence=EXACT,
            )
        case ReplyKind.CONFIRM_YES:
            return Intent(intent=IntentName.CREATE_LEAD, consent=Consent.YES, confidence=EXACT)
        case ReplyKind.CONFIRM_FIX:
            return Intent(intent=IntentName.UPDATE_LEAD, confidence=EXACT)
        case ReplyKind.CONFIRM_CANCEL:
            return Intent(intent=IntentName.CANCEL, confidence=EXACT)
        case ReplyKind.OFFER_ACCEPT:
            return Intent(intent=IntentName.UNKNOWN, consent=Consent.YES, confidence=EXACT)
        case ReplyKind.OFFER_DECLINE:
            return Intent(intent=IntentName.UNKNOWN, consent=Consent.NO, confidence=EXACT)
        case ReplyKind.JOB_DONE | ReplyKind.RATING:
            return Intent(intent=IntentName.UNKNOWN, confidence=EXACT)
        # No consent on the erasure buttons: a stale "Sí, borrar" must never confirm a lead's summary. The
        # decision reads them from the reply id.
        case ReplyKind.ERASURE_YES | ReplyKind.ERASURE_NO | ReplyKind.ASK_FOR_PERSON:
            return Intent(intent=IntentName.UNKNOWN, confidence=EXACT)


def understand_interactive(reply_id: str) -> Intent:
    reply = parse_reply_id(reply_id)
    if reply is None:
        return Intent(intent=IntentName.UNKNOWN, confidence=0.0)
    return _intent_for(reply)
