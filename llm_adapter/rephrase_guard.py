"""Does a rewording keep every fact? Used before any reworded text may replace the deterministic one.

Kept: every fact the caller names (names, comunas, addresses, services, dates), every number (digits are
compared as a multiset: none lost, none added), no new link, within the length limit. Case and accents are
ignored when looking for a fact, so "Ñuñoa" survives as "ñuñoa" but not as "Nunoa Alto".
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

_NUMBER = re.compile(r"\d+")
_LINK = re.compile(r"(https?://|www\.|\b[\w-]+\.(?:cl|com|net|org|io|ly)\b)", re.IGNORECASE)


def fact_changes(original: str, reworded: str, keep: tuple[str, ...], max_chars: int) -> list[str]:
    """What the rewording broke (empty when it may be used)."""
    problems = []
    if not reworded.strip():
        problems.append("empty")
    if len(reworded) > max_chars:
        problems.append("too_long")
    if Counter(_NUMBER.findall(original)) != Counter(_NUMBER.findall(reworded)):
        problems.append("numbers_changed")
    if len(_LINK.findall(reworded)) > len(_LINK.findall(original)):
        problems.append("link_added")
    folded = _fold(reworded)
    problems.extend(f"lost:{i}" for i, fact in enumerate(keep) if _fold(fact) not in folded)
    return problems


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())
