"""How soon the customer needs the job: hoy, 1_2_dias or semana, from Chilean time expressions.

Negations and longer phrases are matched first and claim their words, so "no es urgente" is ``semana``
and never also ``hoy``. "mañana" is tomorrow, except where it means *the morning* ("hoy en la mañana",
"por la mañana", "esta mañana"), which says nothing about the day. Two different answers in one message
("hoy o mañana") are ambiguous: no urgency.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.intent import Urgency
from orchestrator.understanding.text import Span, TokenText

HOY = Urgency.HOY
DIAS = Urgency.UNO_DOS_DIAS
SEMANA = Urgency.SEMANA

_N12 = r"(?:1|un|uno)"
_N2 = r"(?:2|dos)"

# (pattern, urgency or None for "claims the words but means nothing"), tried in this order.
_RULES: tuple[tuple[str, Urgency | None], ...] = (
    # Not urgent, said in many ways; must win over the bare "urgente" below.
    (r"no (?:es|esta|son|sea) (?:tan |muy |nada )?urgente\w*|nada urgente|no urgente|no es (?:una )?urgencia|"
     r"no (?:hay|tiene) (?:tanta )?urgencia|no (?:hay|tengo|tenemos) (?:tanto )?apuro|sin apuro|no corre apuro|"
     r"no me corre", SEMANA),
    (r"cuando (?:puedan|pueda|tengan tiempo|se pueda|tenga tiempo)", SEMANA),
    (r"(?:esta|la|en la|durante la|dentro de la|en esta|la proxima|proxima|la otra|dentro de una|en una) semana|"
     r"(?:este )?fin de semana", SEMANA),
    (r"no (?:es )?(?:para )?hoy", None),
    (rf"pasado manana|(?:en )?{_N12} (?:o|a) {_N2} dias|(?:en )?{_N12} {_N2} dias|(?:en )?(?:un )?par de dias|"
     rf"(?:en )?{_N2} dias|en {_N12} dia", DIAS),
    # "mañana" meaning the morning (or "hasta mañana", goodbye) claims the word without an urgency.
    (r"(?:en la|por la|de la|esta|toda la|cada|media|de|la) manana|hasta manana", None),
    (r"manana", DIAS),
    (r"hoy(?: mismo| dia| en el dia)?|esta (?:tarde|noche)|urgente\w*|urgencia|emergencia|"
     r"lo (?:antes|mas pronto|mas rapido) posible|cuanto antes|de inmediato|inmediat\w*|al ?tiro|asap|"
     r"ya mismo|ahora (?:ya|mismo|altiro)", HOY),
)
# "ahora" is "now, please come", but also "ahora no tengo luz" (a description). Count it only when it ends
# its clause or is followed by an insisting word.
_AHORA_FOLLOWERS = frozenset({"ya", "mismo", "altiro", "al", "por", "porfa", "porfavor", "pls", "urgente", "po"})


@dataclass(frozen=True, slots=True)
class UrgencyFinding:
    urgency: Urgency | None
    confidence: float
    ambiguous: bool = False
    spans: tuple[Span, ...] = ()


def find_urgency(text: TokenText, *, expected: bool = False, blocked: tuple[Span, ...] = ()) -> UrgencyFinding:
    claimed: list[Span] = list(blocked)
    found: list[tuple[Span, Urgency]] = []
    for pattern, urgency in _RULES:
        for span in text.find(pattern):
            if any(span.overlaps(other) for other in claimed):
                continue
            claimed.append(span)
            if urgency is not None:
                found.append((span, urgency))
    only_ahora = False
    if not found:
        for span in text.find("ahora"):
            if any(span.overlaps(other) for other in claimed):
                continue
            nxt = text.norm(span.end) if text.same_clause(span.end, span.start) else None
            if expected or nxt is None or nxt in _AHORA_FOLLOWERS:
                found.append((span, HOY))
                only_ahora = True
    values = {urgency for _, urgency in found}
    if not values:
        return UrgencyFinding(None, 0.0)
    if len(values) > 1:
        return UrgencyFinding(None, 0.0, ambiguous=True)
    confidence = 0.95 if expected else (0.88 if only_ahora else 0.92)
    return UrgencyFinding(values.pop(), confidence, spans=tuple(span for span, _ in found))
