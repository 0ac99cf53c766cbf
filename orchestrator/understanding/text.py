"""Tokenised view of a customer message shared by every rule module.

Rules match regular expressions against the *normalised* text (lowercase, no accents, single spaces) but
must hand back spans of the *original* text (an address is kept as the customer typed it). ``TokenText``
keeps both in step, and records clause breaks (commas, sentence ends) because most cues only make sense
inside one clause: "no, cancela" is not "no cancela".
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Final

from contracts.comunas import normalize_text

# A thousands-separated number ("1.234") is one token, so that "Grecia 2.010" keeps its street number whole.
_TOKEN: Final = re.compile(r"\d{1,3}(?:\.\d{3})+(?!\d)|[^\W_]+")
_BREAK_CHARS = frozenset(",;:!?¿¡\n()[]|")
# A period after these does not end a clause: "Av. Grecia", "depto. 5", "P.A.C.".
_ABBREVIATIONS = frozenset(
    {"av", "avda", "avd", "pje", "psje", "pj", "pdte", "gral", "sta", "sto", "nro", "num", "dpto", "depto",
     "dto", "dep", "of", "km", "pob", "pobl", "cond", "sr", "sra", "srta", "dr", "dra", "st"}
)


@dataclass(frozen=True, slots=True)
class Token:
    norm: str
    start: int  # character span in the original text
    end: int
    clause: int


@dataclass(frozen=True, slots=True)
class Span:
    """Half-open range of token indexes."""

    start: int
    end: int

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end

    def indexes(self) -> range:
        return range(self.start, self.end)


def _is_break(gap: str, previous: str | None) -> bool:
    if any(ch in _BREAK_CHARS for ch in gap):
        return True
    if "." in gap:
        # Periods inside abbreviations and initials are not sentence ends.
        return previous is None or not (previous in _ABBREVIATIONS or len(previous) == 1)
    return False


def tokenize(text: str) -> tuple[Token, ...]:
    tokens: list[Token] = []
    clause = 0
    last_end = 0
    previous: str | None = None
    for match in _TOKEN.finditer(text):
        if tokens and _is_break(text[last_end : match.start()], previous):
            clause += 1
        raw = match.group()
        norm = raw.replace(".", "") if raw[:1].isdigit() else normalize_text(raw)
        # NFKD can split one glyph into several words ("½" → "1 2"); each keeps the glyph's span.
        for part in norm.split():
            tokens.append(Token(part, match.start(), match.end(), clause))
        previous = norm
        last_end = match.end()
    return tuple(tokens)


class TokenText:
    """The message as tokens, their normalised join, and the original text."""

    def __init__(self, text: str) -> None:
        self.original = text
        self.tokens = tokenize(text)
        self.normalized = " ".join(t.norm for t in self.tokens)
        starts: list[int] = []
        offset = 0
        for token in self.tokens:
            starts.append(offset)
            offset += len(token.norm) + 1
        self._starts = starts

    def __len__(self) -> int:
        return len(self.tokens)

    def norm(self, index: int) -> str | None:
        """The normalised token at ``index``, or None outside the message."""
        return self.tokens[index].norm if 0 <= index < len(self.tokens) else None

    def same_clause(self, a: int, b: int) -> bool:
        return (
            0 <= a < len(self.tokens)
            and 0 <= b < len(self.tokens)
            and self.tokens[a].clause == self.tokens[b].clause
        )

    def find(self, pattern: str, *, cross_clauses: bool = False) -> list[Span]:
        """Whole-word matches of ``pattern`` in the normalised text, as token spans, left to right."""
        regex = _whole_words(pattern)
        spans: list[Span] = []
        for match in regex.finditer(self.normalized):
            if match.end() == match.start():
                continue
            span = Span(bisect_right(self._starts, match.start()) - 1, bisect_left(self._starts, match.end()))
            if cross_clauses or self.tokens[span.start].clause == self.tokens[span.end - 1].clause:
                spans.append(span)
        return spans

    def mentions_any(self, patterns: tuple[str, ...]) -> bool:
        """Whether any of ``patterns`` has a whole-word match, in one pass over the text.

        Exactly "``find`` would return something for one of them, ignoring clauses": a cheap test that
        lets callers skip dozens of separate scans of a message that mentions none of them.
        """
        return _any_whole_word(patterns).search(self.normalized) is not None

    def words(self, span: Span) -> str:
        return " ".join(t.norm for t in self.tokens[span.start : span.end])

    def original_text(self, span: Span) -> str:
        """The customer's own characters for ``span``, whitespace collapsed."""
        if span.start >= span.end:
            return ""
        raw = self.original[self.tokens[span.start].start : self.tokens[span.end - 1].end]
        return " ".join(raw.split())

    def clause_span(self, index: int) -> Span:
        return self.clauses[self.tokens[index].clause]

    @cached_property
    def clauses(self) -> tuple[Span, ...]:
        """Token spans of each clause, indexed by ``Token.clause`` (clause numbers are dense)."""
        spans: list[Span] = []
        start = 0
        for index in range(1, len(self.tokens) + 1):
            if index == len(self.tokens) or self.tokens[index].clause != self.tokens[start].clause:
                spans.append(Span(start, index))
                start = index
        return tuple(spans)


@cache
def _whole_words(pattern: str) -> re.Pattern[str]:
    # A pattern never matches half a word: "gas" is not inside "gasfiter", "hoy" not inside "hoyo".
    return re.compile(rf"(?<![a-z0-9])(?:{pattern})(?![a-z0-9])")


@cache
def _any_whole_word(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return _whole_words("|".join(f"(?:{pattern})" for pattern in patterns))


def strip_symbols(text: str) -> str:
    """Drop emojis and other pictographs, which carry no field value, and collapse whitespace."""
    kept = (
        ch
        for ch in text
        if unicodedata.category(ch) not in {"So", "Sk", "Cs", "Co", "Cn"} and ch not in "\u200d\ufe0f\ufe0e"
    )
    return " ".join("".join(kept).split())
