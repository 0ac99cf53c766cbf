"""The deterministic reading of a free-text message: every rule module, combined into one ``Intent``.

``expecting`` is the field the conversation just asked for. It lets a bare answer count ("hoy", "Ñuñoa",
"sí", "Irarrázaval 1234") and it raises confidence in that answer; it never lets a value outside an
allowlist through.

Confidence, which callers compare with ``MIN_CONFIDENCE`` (0.85):
* 0.9–0.95 for clear keyword matches; the result is as sure as its least sure field;
* 0.75 when the message is ambiguous exactly where it matters (two services for a new request, two
  answers to the question we asked): the field stays null and callers assume nothing;
* 0.3 when nothing was recognised (``unknown``), 0.0 for an empty message.
"""

from __future__ import annotations

from typing import Final

from contracts.intent import Intent, IntentName
from orchestrator.understanding.address import NOT_FOUND as NO_ADDRESS
from orchestrator.understanding.address import find_address
from orchestrator.understanding.comuna_finder import find_comuna
from orchestrator.understanding.consent import find_consent
from orchestrator.understanding.intents import IntentSignals, detect_intents
from orchestrator.understanding.problem import NOT_FOUND as NO_PROBLEM
from orchestrator.understanding.problem import find_problem
from orchestrator.understanding.services import find_service
from orchestrator.understanding.text import Span, TokenText
from orchestrator.understanding.urgency import find_urgency

EXPECTING: Final = ("service", "comuna", "problem", "urgency", "address", "consent", "confirmation", "rating")

CLEAR_PHRASE = 0.95
SMALLTALK = 0.9
AMBIGUOUS = 0.75
NOTHING_RECOGNISED = 0.3


def _intent_name(signals: IntentSignals, has_lead_content: bool, *, emoji_only: bool) -> IntentName:
    # Precedence: what the customer asks us to do beats what the message also happens to mention.
    if signals.cancel:
        return IntentName.CANCEL
    if signals.status:
        return IntentName.ASK_STATUS
    if signals.update:
        return IntentName.UPDATE_LEAD
    if has_lead_content:
        return IntentName.CREATE_LEAD
    if signals.smalltalk_only or emoji_only:
        return IntentName.SMALLTALK
    return IntentName.UNKNOWN


def understand_text(text: str, expecting: str | None = None) -> Intent:
    if expecting is not None and expecting not in EXPECTING:
        raise ValueError(f"unknown expecting {expecting!r}; one of {EXPECTING} or None")
    tokens = TokenText(text)
    signals = detect_intents(tokens, expecting)
    consent = find_consent(tokens, expected=expecting in ("consent", "confirmation"))
    # A typed rating is a number and a comment ("el enchufe quedó perfecto"): neither an address nor a
    # new problem. Read the stars with ``find_rating``.
    rating_mode = expecting == "rating"
    address = NO_ADDRESS if rating_mode else find_address(tokens, expected=expecting == "address")
    service = find_service(tokens, expected=expecting == "service")
    keyword_spans = tuple(m.span for m in service.matches)
    address_spans: tuple[Span, ...] = (address.span,) if address.span else ()
    urgency = find_urgency(tokens, expected=expecting == "urgency", blocked=address_spans)
    comuna = find_comuna(
        tokens, expected=expecting == "comuna", blocked=(*address_spans, *keyword_spans, *urgency.spans)
    )
    problem = NO_PROBLEM if rating_mode else find_problem(
        tokens,
        service.matches,
        expected=expecting == "problem" and not (signals.cancel or signals.status),
        other_fields=(*address_spans, *urgency.spans, *((comuna.span,) if comuna.span else ())),
    )
    # "sí, pero cambia la dirección" / "no, cancela": the "sí"/"no" introduces the correction or the
    # cancellation; it is not an answer to the consent question.
    consent_value = None if signals.update or signals.cancel else consent.consent

    found = [
        confidence
        for value, confidence in (
            (service.service, service.confidence),
            (comuna.comuna, comuna.confidence),
            (problem.problem, problem.confidence),
            (urgency.urgency, urgency.confidence),
            (address.address, address.confidence),
            (consent_value, consent.confidence),
        )
        if value is not None
    ]
    emoji_only = bool(text.strip()) and not tokens.tokens
    name = _intent_name(signals, bool(found) or service.ambiguous, emoji_only=emoji_only)
    if name is IntentName.UNKNOWN:
        confidence = NOTHING_RECOGNISED if tokens.tokens else 0.0
    else:
        # As sure as the least sure thing we return.
        confidence = min([SMALLTALK if name is IntentName.SMALLTALK else CLEAR_PHRASE, *found])

    ambiguous_answer = {
        "service": service.ambiguous,
        "comuna": comuna.ambiguous,
        "urgency": urgency.ambiguous,
        "address": address.ambiguous,
    }.get(expecting or "", False)
    new_request_unclear = name is IntentName.CREATE_LEAD and service.ambiguous
    if ambiguous_answer or new_request_unclear:
        confidence = min(confidence, AMBIGUOUS)

    return Intent(
        intent=name,
        service=service.service,
        comuna=comuna.comuna,
        problem_type=problem.problem,
        urgency=urgency.urgency,
        address=address.address,
        consent=consent_value,
        confidence=confidence,
    )
