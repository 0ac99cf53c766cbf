"""Yes or no to sharing the customer's data / confirming the summary.

A bare "sí", "ya" or "no" only means consent when we just asked for it: elsewhere "ya" is "already" and
"si" is "if". So the short answers are read only when ``expected``, and only when the first clause is
nothing but yes/no words and fillers ("sí po", "dale, gracias", "no, gracias"): "si pueden venir hoy" is a
condition, not a yes. An explicit statement ("autorizo", "no autorizo") counts anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from contracts.intent import Consent
from orchestrator.understanding.text import TokenText

_CLEAR_NO = (
    r"no (?:lo |los |les |te )?autoriz(?:o|amos)|no (?:doy|damos) (?:mi |el |la )?(?:consentimiento|autorizacion)|"
    r"no acepto compartir"
)
_CLEAR_YES = (
    r"(?:lo |los |les |te )?autoriz(?:o|amos)|(?:doy|damos) (?:mi |el |la )?(?:consentimiento|autorizacion)|"
    r"acepto compartir"
)

_YES = (
    r"si senor|de acuerdo|esta bien|todo bien|todo correcto|por supuesto|de una|ya po|"
    r"s+i+|sip|sipo|sep|see+|dale+|ya+|yap|ok+|oka+|okay|okey|oki|okis|confirm\w*|correct[oa]|acuerdo|perfecto|"
    r"bueno|buena|claro|obvio|exacto|listo|vale|acept[oa]|aceptamos|autoriz\w*|afirmativo|bkn|bacan|"
    r"adelante|hagamoslo|procede|sigamos"
)
_NO = (
    r"no quiero|no acepto|no confirmo|no autoriz\w*|para nada|todavia no|aun no|mejor no|"
    r"n+o+|nop|nopo|nones|negativo|tampoco"
)
_FILLER = r"no mas|nomas|muchas gracias|por favor|gracias|porfa|porfavor|po|pues|y|todo|altiro|amigo|amiga"
_ANSWER = re.compile(rf" ?(?:(?P<filler>{_FILLER})|(?P<no>{_NO})|(?P<yes>{_YES}))(?![a-z0-9])")

_YES_EMOJI = frozenset("👍👌✅🙌")
_NO_EMOJI = frozenset("👎❌🚫")


@dataclass(frozen=True, slots=True)
class ConsentFinding:
    consent: Consent | None
    confidence: float


NOT_FOUND = ConsentFinding(None, 0.0)


def _short_answer(clause: str) -> Consent | None:
    """Yes/no when ``clause`` is made only of yes/no words and fillers; None otherwise or when mixed."""
    said_yes = said_no = False
    position = 0
    while position < len(clause):
        match = _ANSWER.match(clause, position)
        if match is None:
            return None
        said_yes = said_yes or match.group("yes") is not None
        said_no = said_no or match.group("no") is not None
        position = match.end()
    if said_yes == said_no:
        return None
    return Consent.YES if said_yes else Consent.NO


def _emoji_answer(raw: str) -> Consent | None:
    symbols = {ch for ch in raw if not ch.isspace()}
    if symbols and symbols <= _YES_EMOJI:
        return Consent.YES
    if symbols and symbols <= _NO_EMOJI:
        return Consent.NO
    return None


def find_consent(text: TokenText, *, expected: bool = False) -> ConsentFinding:
    clear_no = text.find(_CLEAR_NO)
    clear_yes = [s for s in text.find(_CLEAR_YES) if not any(s.overlaps(n) for n in clear_no)]
    if clear_no and not clear_yes:
        return ConsentFinding(Consent.NO, 0.95)
    if clear_yes and not clear_no:
        return ConsentFinding(Consent.YES, 0.95)
    if (clear_yes and clear_no) or not expected:
        return NOT_FOUND
    answer = _short_answer(text.words(text.clauses[0])) if text.tokens else _emoji_answer(text.original)
    return NOT_FOUND if answer is None else ConsentFinding(answer, 0.95)
