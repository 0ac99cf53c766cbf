"""Personal data that never leaves the system: phone numbers, e-mails and RUTs are masked before a call.

Street numbers ("Irarrázaval 1234", "depto 5") are kept: the model may need them to find an address, and
the backend grounds any address it returns in the customer's own words anyway.
"""

from __future__ import annotations

import re

EMAIL_MASK = "[email]"
RUT_MASK = "[rut]"
PHONE_MASK = "[telefono]"

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 12.345.678-9, 12345678-K, 9.876.543-2 (the check digit may be K).
_RUT = re.compile(r"\b\d{1,2}\.?\d{3}\.?\d{3}\s?-\s?[\dkK]\b")
# +56 9 1234 5678, 56912345678, 9 1234 5678, 22 123 4567, (2) 2123 4567: 8 or more digits, separators allowed.
_PHONE = re.compile(r"(?<![\w])\+?(?:\(?\d\)?[\s.-]?){8,}(?![\w])")


def mask_personal_data(text: str) -> str:
    text = _EMAIL.sub(EMAIL_MASK, text)
    text = _RUT.sub(RUT_MASK, text)
    return _PHONE.sub(_phone_or_keep, text)


def _phone_or_keep(match: re.Match[str]) -> str:
    # The pattern may swallow a trailing separator; give it back so words stay apart.
    found = match.group(0)
    stripped = found.rstrip(" .-")
    return PHONE_MASK + found[len(stripped) :]
