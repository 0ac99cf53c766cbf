"""``problem_type``: a short description of the problem, in the customer's own words.

Taken from the clauses that carry a problem keyword ("se me rompió la cañería del baño"), without the
greeting, the emojis, or the clauses about where and when. A message that only names the trade ("necesito
un gasfiter") describes no problem. When we just asked "¿qué problema tienes?", the whole answer is the
description, since the customer may describe it in words no keyword knows.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.understanding.intents import is_smalltalk_only
from orchestrator.understanding.services import KeywordMatch
from orchestrator.understanding.text import Span, TokenText, strip_symbols

MAX_LENGTH = 160

_LEADING_NOISE = frozenset(
    {"hola", "holi", "buenas", "buenos", "buen", "dia", "dias", "tardes", "noches", "disculpe", "disculpa",
     "oiga", "oye", "saludos", "alo", "wenas", "ayuda", "urgente", "porfa"}
)
_NON_ANSWERS = frozenset({"no se", "nose", "ni idea", "no lo se", "no sabria decir", "no tengo idea"})
# Words that may surround another field's value without adding anything to a description ("en Ñuñoa").
_FIELD_GLUE = frozenset({"en", "de", "la", "el", "es", "para", "comuna", "mi", "direccion", "sector", "queda"})


@dataclass(frozen=True, slots=True)
class ProblemFinding:
    problem: str | None
    confidence: float


NOT_FOUND = ProblemFinding(None, 0.0)


def _trim(text: TokenText, span: Span, taken: frozenset[int] = frozenset()) -> Span:
    """Drop a leading greeting and a trailing "en Ñuñoa" / "hoy" (those are other fields, kept elsewhere)."""
    start = span.start
    while start < span.end and text.tokens[start].norm in _LEADING_NOISE:
        start += 1
    end = span.end
    if end - 1 in taken:
        while end > start and (end - 1 in taken or text.tokens[end - 1].norm in _FIELD_GLUE):
            end -= 1
    return Span(start, end)


def _shorten(description: str) -> str:
    if len(description) <= MAX_LENGTH:
        return description
    cut = description[:MAX_LENGTH].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:")


def _content_words(text: TokenText, spans: list[Span]) -> int:
    return sum(1 for span in spans for i in span.indexes() if text.tokens[i].norm not in _FIELD_GLUE)


def _render(text: TokenText, spans: list[Span]) -> str | None:
    # "luz" or "la puerta" answers which trade, it does not describe a problem: two words at least.
    if _content_words(text, spans) < 2:
        return None
    parts = [strip_symbols(text.original_text(span)) for span in spans if span.start < span.end]
    description = ", ".join(part.strip(" ,.;:¡!¿?") for part in parts if part.strip(" ,.;:¡!¿?"))
    return _shorten(description) if description else None


def find_problem(
    text: TokenText,
    matches: tuple[KeywordMatch, ...],
    *,
    expected: bool = False,
    other_fields: tuple[Span, ...] = (),
) -> ProblemFinding:
    """The description, or None. ``other_fields`` (comuna, urgency, address spans) are not a description."""
    taken = frozenset(i for span in other_fields for i in span.indexes())
    describing = [m for m in matches if m.keyword.describes_problem]
    if describing:
        clauses: list[Span] = []
        for match in describing:
            clause = _trim(text, text.clause_span(match.span.start), taken)
            if clause not in clauses:
                clauses.append(clause)
        problem = _render(text, sorted(clauses, key=lambda s: s.start))
        return NOT_FOUND if problem is None else ProblemFinding(problem, 0.9)
    if not expected or is_smalltalk_only(text):
        return NOT_FOUND
    spans = [
        span
        for span in (_trim(text, clause, taken) for clause in text.clauses)
        if any(i not in taken and text.tokens[i].norm not in _FIELD_GLUE for i in span.indexes())
    ]
    if text.words(Span(0, len(text))) in _NON_ANSWERS:
        return NOT_FOUND
    problem = _render(text, spans)
    return NOT_FOUND if problem is None else ProblemFinding(problem, 0.9)
