"""A typed rating (1 to 5) for when we asked "¿cómo evaluarías el trabajo?" and the customer typed instead
of tapping. The Intent shape has no rating field, so callers read it here.

Exact only: one number from 1 to 5 ("5", "un 4", "4 estrellas", "4 de 5", "cinco") or only star emojis.
A "7" (Chile's school scale) or two numbers are not a rating on our scale: None, never rescaled.
"""

from __future__ import annotations

from orchestrator.understanding.reply_ids import MAX_RATING, MIN_RATING
from orchestrator.understanding.text import TokenText

# "un"/"una" are left out: they are articles far more often than ratings ("una maravilla").
_WORDS = {"uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5}
_STAR = "⭐"
# Long messages mention numbers for other reasons ("llegó en 20 minutos").
_MAX_TOKENS = 8


def find_rating(text: str) -> int | None:
    stripped = "".join(text.split()).replace("\ufe0f", "")
    if stripped and set(stripped) == {_STAR}:
        return len(stripped) if len(stripped) <= MAX_RATING else None
    tokens = TokenText(text)
    if not tokens.tokens or len(tokens) > _MAX_TOKENS:
        return None
    words = [t.norm for t in tokens.tokens]
    # "4 de 5" / "4/5": the scale is not a second rating.
    if len(words) >= 3 and words[-2] == "de" and words[-1] in {"5", "cinco"}:
        words = words[:-2]
    elif len(words) >= 2 and words[-1] == "5" and "/" in text:
        words = words[:-1]
    # isdecimal, not isdigit: "²" is a digit that int() refuses, and a customer may well type one.
    values = [int(w) if w.isdecimal() else _WORDS[w] for w in words if w.isdecimal() or w in _WORDS]
    if len(set(values)) != 1:
        return None
    value = values[0]
    return value if MIN_RATING <= value <= MAX_RATING else None
