"""Personal data that never leaves the system: phone numbers, e-mails and RUTs are masked before a call.

Street numbers ("Irarrázaval 1234", "depto 5") are kept: the model may need them to find an address, and
the backend grounds any address it returns in the customer's own words anyway. A text to reword is masked
reversibly: each value gets a numbered placeholder the model must keep, put back in its answer afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

EMAIL_MASK = "[email]"
RUT_MASK = "[rut]"
PHONE_MASK = "[telefono]"

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 12.345.678-9, 12345678-K, 9.876.543-2 (the check digit may be K).
_RUT = re.compile(r"\b\d{1,2}\.?\d{3}\.?\d{3}\s?-\s?[\dkK]\b")
# +56 9 1234 5678, 56912345678, 9 1234 5678, 22 123 4567, (2) 2123 4567: 8 or more digits, separators allowed.
_PHONE = re.compile(r"(?<![\w])\+?(?:\(?\d\)?[\s.-]?){8,}(?![\w])")
_KINDS = ((_EMAIL, "email"), (_RUT, "rut"), (_PHONE, "telefono"))


def mask_personal_data(text: str) -> str:
    return _masked(text, lambda kind, _value: f"[{kind}]")


@dataclass
class Masked:
    """A text with its personal values replaced by numbered placeholders, and how to put them back."""

    text: str
    values: dict[str, str] = field(default_factory=dict)

    def restore(self, answer: str) -> str:
        """``answer`` with every placeholder it kept given its value back (a lost one stays lost: the fact
        check then refuses the answer)."""
        for placeholder, value in self.values.items():
            answer = answer.replace(placeholder, value)
        return answer


def mask_reversibly(text: str) -> Masked:
    masked = Masked(text)

    def placeholder(kind: str, value: str) -> str:
        name = f"[{kind}_{len(masked.values) + 1}]"
        masked.values[name] = value
        return name

    masked.text = _masked(text, placeholder)
    return masked


def _masked(text: str, replacement: Callable[[str, str], str]) -> str:
    for pattern, kind in _KINDS:
        text = pattern.sub(partial(_keeping_separator, kind=kind, replacement=replacement), text)
    return text


def _keeping_separator(match: re.Match[str], *, kind: str, replacement: Callable[[str, str], str]) -> str:
    # The phone pattern may swallow a trailing separator; give it back so words stay apart.
    found = match.group(0)
    stripped = found.rstrip(" .-") if kind == "telefono" else found
    return replacement(kind, stripped) + found[len(stripped) :]
