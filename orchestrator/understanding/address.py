"""A street address, kept exactly as the customer typed it: a street name followed by a number.

Never invented: no number, no address. And a word before a number is only a street when something says
so, because "tengo 2 enchufes" or "en 1 o 2 días" also put a word before a number. What says so: a street
word ("av.", "calle", "pasaje"), a unit after the number ("depto 5", "casa B"), a cue ("mi dirección es",
"vivo en"), or the fact that we just asked for the address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.understanding.text import Span, TokenText

_STREET_PREFIXES = frozenset(
    {"av", "avda", "avd", "avenida", "calle", "pasaje", "psje", "pje", "pj", "camino", "alameda", "diagonal",
     "paseo", "callejon", "costanera"}
)
_NUMBER_MARKERS = frozenset({"n", "nro", "num", "numero"})
_UNITS = frozenset(
    {"depto", "dpto", "dto", "departamento", "dep", "casa", "block", "blok", "torre", "of", "oficina", "piso",
     "local", "int", "interior", "parcela", "lote", "sitio"}
)
# A number followed by these is a quantity or a time, not a street number.
_QUANTITIES = frozenset(
    {"dia", "dias", "hora", "horas", "hrs", "hr", "h", "min", "mins", "minutos", "semana", "semanas", "mes",
     "meses", "ano", "anos", "vez", "veces", "persona", "personas", "enchufe", "enchufes", "ampolleta",
     "ampolletas", "llave", "llaves", "puerta", "puertas", "pisos", "lucas", "luca", "mil", "pesos", "am", "pm",
     "estrella", "estrellas", "metro", "metros", "mts", "mt", "m", "cm", "kg", "litros", "lt", "o", "a", "y",
     "de", "al", "x", "por", "porciento"}
)
# Words that end a street name when walking back from the number: verbs, pronouns, prepositions, cues.
_STOP = frozenset(
    {"en", "es", "mi", "su", "direccion", "domicilio", "vivo", "vivimos", "queda", "seria", "sera", "a", "al",
     "y", "por", "favor", "hola", "buenas", "ok", "si", "ya", "estoy", "estamos", "soy", "mejor", "ahora",
     "perdon", "equivoque", "me", "correcta", "correcto", "era", "nueva", "cambia", "cambiar", "cambien",
     "que", "tengo", "tenemos", "con", "para", "donde", "cerca", "frente", "the", "hay", "son", "un",
     "una", "uno", "dos", "tres", "cuatro", "cinco", "porfa", "gracias", "no", "entre", "o", "desde", "hasta"}
)
_FUNCTION_WORDS = frozenset({"la", "las", "los", "el", "de", "del", "y", "o"})
_NUMBER = re.compile(r"\d{1,5}[a-z]?")
# What follows a unit word: "5", "12b", "B", "b2" ("casa de mi mamá" is not a unit).
_UNIT_VALUE = re.compile(r"\d{1,5}[a-z]?|[a-z]|[a-z]\d{1,4}")
_MAX_NAME_WORDS = 5


@dataclass(frozen=True, slots=True)
class AddressFinding:
    address: str | None
    confidence: float
    span: Span | None = None
    ambiguous: bool = False


NOT_FOUND = AddressFinding(None, 0.0)


def _is_street_number(text: TokenText, index: int) -> bool:
    token = text.tokens[index]
    if not _NUMBER.fullmatch(token.norm):
        return False
    # "+56 9 1234 5678": digits next to digits are a phone number, not a street number.
    neighbours = (text.norm(index - 1) if text.same_clause(index - 1, index) else None,
                  text.norm(index + 1) if text.same_clause(index + 1, index) else None)
    if any(n is not None and n[:1].isdigit() for n in neighbours):
        return False
    return neighbours[1] not in _QUANTITIES


def _prefix_before(text: TokenText, start: int, number: int) -> int | None:
    """Index of a street word shortly before ``start``; what lies between may hold numbers and initials
    ("calle 5 norte 123", "av. o'higgins 1234"), since the street word already says this is a street."""
    for index in range(start - 1, max(start - _MAX_NAME_WORDS - 2, -1), -1):
        word = text.norm(index)
        if word is None or not text.same_clause(index, number):
            return None
        if word in _STREET_PREFIXES:
            return index
        if (word in _STOP and word != "o") or not (word.isalpha() or (word.isdigit() and len(word) <= 2)):
            return None
    return None


def _name_start(text: TokenText, number: int) -> int:
    """Walk back from the number over street-name words; returns the index of the first one."""
    start = number
    if text.same_clause(start - 1, number) and text.norm(start - 1) in _NUMBER_MARKERS:
        start -= 1
    prefix = _prefix_before(text, start, number)
    if prefix is not None:
        return prefix
    words = 0
    while (
        words < _MAX_NAME_WORDS
        and text.same_clause(start - 1, number)
        and (word := text.norm(start - 1)) is not None
        and word.isalpha()
        and word not in _STOP
    ):
        start -= 1
        words += 1
    # A street name does not start with "de"/"del" ("la casa de los aromos" is not how one writes it).
    while start < number and text.norm(start) in {"de", "del"}:
        start += 1
    return start


def _end(text: TokenText, number: int) -> int:
    """Index after the number and any unit that follows it ("depto 5", ", casa B", "block 3 dpto 21")."""
    end = number + 1
    single = text.norm(end)
    if single is not None and text.same_clause(end, number) and len(single) == 1 and single not in "aoyeu":
        end += 1
    while text.norm(end) in _UNITS:
        value = text.norm(end + 1)
        if value is None or not _UNIT_VALUE.fullmatch(value):
            break
        end += 2
    return end


def _has_cue(text: TokenText, name_start: int) -> bool:
    clause = text.clause_span(name_start)
    before = [t.norm for t in text.tokens[clause.start : name_start]]
    if "direccion" in before or "domicilio" in before:
        return True
    return len(before) >= 2 and before[-1] == "en" and before[-2] in {"vivo", "vivimos", "queda", "es"}


def _candidate(text: TokenText, number: int, expected: bool) -> tuple[Span, float] | None:
    start = _name_start(text, number)
    name = [t.norm for t in text.tokens[start:number] if t.norm not in _NUMBER_MARKERS]
    end = _end(text, number)
    has_unit = any(text.norm(i) in _UNITS for i in range(number + 1, end))
    if name and name[0] in _STREET_PREFIXES:
        content = [w for w in name[1:] if w not in _FUNCTION_WORDS and w != "o"]
        if content or has_unit:
            return Span(start, end), 0.9
        return None
    if not any(len(w) >= 3 and w not in _FUNCTION_WORDS for w in name):
        return None
    if expected:
        return Span(start, end), 0.93
    if has_unit or _has_cue(text, start):
        return Span(start, end), 0.9
    return None


def find_address(text: TokenText, *, expected: bool = False) -> AddressFinding:
    found: list[tuple[Span, float]] = []
    for index in range(len(text)):
        if any(index in span.indexes() for span, _ in found) or not _is_street_number(text, index):
            continue
        candidate = _candidate(text, index, expected)
        if candidate is not None:
            found.append(candidate)
    if not found:
        return NOT_FOUND
    if len(found) > 1:
        return AddressFinding(None, 0.0, ambiguous=True)
    span, confidence = found[0]
    return AddressFinding(text.original_text(span), confidence, span)
