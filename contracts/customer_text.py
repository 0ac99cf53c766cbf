"""What customers type, made safe to store: normalised once, where an inbound message enters our contracts
(and the texts of Meta's error objects, ``contracts.whatsapp.WhatsAppError``, which may echo it).

PostgreSQL's jsonb refuses ``\\u0000`` and JSON encoders refuse lone surrogates, so a text carrying either
would fail every time it is stored. Control characters no person types (C0 and C1, DEL) are removed, but
newline and tab stay; a carriage return becomes a newline. The text is put in NFC (one spelling of "ñ",
so matching and storage agree) and cut at WhatsApp's own limit for a text message. The caller records
what was cut; the original stays in the raw payload where one is kept.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

#: WhatsApp's limit on the body of a text message, in characters.
MAX_TEXT_CHARS = 4096

_KEPT_CONTROLS = frozenset({"\t", "\n"})
_C0 = range(0x00, 0x20)
_C1_AND_DEL = range(0x7F, 0xA0)
_SURROGATES = range(0xD800, 0xE000)

_TRANSLATION: dict[int, str | None] = {
    **{code: None for code in (*_C0, *_C1_AND_DEL) if chr(code) not in _KEPT_CONTROLS},
    ord("\r"): "\n",
    # A lone surrogate (a JSON escape of half a pair) is no character at all: the replacement character.
    **{code: "\ufffd" for code in _SURROGATES},
}


@dataclass(frozen=True, slots=True)
class NormalisedText:
    text: str
    #: The length of the text before it was cut at the limit, or None when nothing was cut.
    truncated_from: int | None
    #: How many control characters were removed.
    controls_removed: int


def normalise_text(raw: str, limit: int = MAX_TEXT_CHARS) -> NormalisedText:
    """``raw`` without controls, in NFC, at most ``limit`` characters. Idempotent."""
    # "\r\n" is one line break, not two.
    text = raw.replace("\r\n", "\n") if "\r" in raw else raw
    cleaned = text.translate(_TRANSLATION)
    removed = len(text) - len(cleaned)
    if not unicodedata.is_normalized("NFC", cleaned):
        cleaned = unicodedata.normalize("NFC", cleaned)
    if len(cleaned) <= limit:
        return NormalisedText(cleaned, None, removed)
    return NormalisedText(_cut(cleaned, limit), len(cleaned), removed)


def _cut(text: str, limit: int) -> str:
    cut = text[:limit]
    # Cutting off a character's combining marks can leave a prefix that is not NFC, and NFC may lengthen it.
    while not unicodedata.is_normalized("NFC", cut):
        cut = unicodedata.normalize("NFC", cut)[:limit]
    return cut


def clean(raw: str | None, limit: int = MAX_TEXT_CHARS) -> str | None:
    """:func:`normalise_text` of a text that may be absent, for fields whose cut need not be recorded."""
    return None if raw is None else normalise_text(raw, limit).text
