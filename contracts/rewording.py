"""Does a rewording keep every fact of a deterministic reply? The check any reworded text must pass.

Pure and shared: the LLM adapter applies it before it answers, and the sender again before it sends (it
trusts nothing that came over the wire). What counts as a fact is chosen to err on the side of refusing:
a refused rewording costs only warmth, the deterministic text goes instead.

Kept (compared ignoring case, accents and spacing): every number (digit runs as a multiset: none lost,
changed or added), every word written with a capital inside a sentence (names, streets, comunas as the
replies write them) and a capitalised word heading a multi-word name ("Pedro Soto"), the word naming a
street number ("Irarrázaval 1234", "depto 5"), every quoted passage, every official comuna, service word
and date word, the question when the original asks one, and whatever the caller names in ``keep``.
Added: no number words, links, e-mails, money, comunas, service or date words, promises, nor anything in
square brackets (a placeholder of the masking) that the original did not have. Not empty, within the limit.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import cache

from contracts.comunas import all_comunas

_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"[^\W\d_]+")
_SPACE = re.compile(r"\s+")
_TOKEN = re.compile(r"[^\W\d_]+|\d+")
_QUOTED = re.compile(r"\"([^\"\n]{2,})\"|“([^”\n]{2,})”|«([^»\n]{2,})»")
_BRACKETED = re.compile(r"\[[^\]\n]*\]")
_LINK = re.compile(r"https?://|www\.|\b[\w-]+\.(?:cl|com|net|org|io|ly|me|app|info)\b|@", re.IGNORECASE)
#: Opening marks that may stand between a sentence's end and its first word.
_OPENERS = " \t\r¿¡\"'«“(*_-"
_SENTENCE_ENDS = (".", "!", "?", "…")
# Folded (lowercase, no accents) word lists; a phrase is matched on word boundaries.
_SERVICE_WORDS = (
    "electricidad", "electrica", "electrico", "electricista", "electricistas", "gasfiteria", "gasfiter",
    "gasfiters", "gasfiteros", "plomero", "plomeria", "cerrajeria", "cerrajero", "cerrajeros",
)  # fmt: skip
_DATE_WORDS = (
    "hoy", "manana", "ayer", "pasado manana", "lunes", "martes", "miercoles", "jueves", "viernes", "sabado",
    "domingo", "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
    "octubre", "noviembre", "diciembre", "semana", "semanas", "dias", "hora", "horas", "minuto", "minutos",
    "mes", "meses",
)  # fmt: skip
_NUMBER_WORDS = (
    "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez", "once", "doce", "quince",
    "veinte", "treinta", "cuarenta", "cincuenta", "cien", "ciento", "mil", "millon", "millones", "primero",
    "segundo", "tercero", "media", "medio",
)  # fmt: skip
_PROMISE_STEMS = (
    "garantiz", "promet", "asegur", "gratis", "gratuit", "sin costo", "sin cargo", "descuento", "reembols",
    "devolv", "devoluc", "inmediat", "enseguida", "en seguida", "al tiro", "ya mismo", "de una", "precio",
    "cobr", "pago", "pagar", "tarifa", "oferta", "promo", "siempre", "nunca",
)  # fmt: skip
_MONEY = re.compile(r"[$€%]|\b(?:clp|usd|pesos|lucas)\b", re.IGNORECASE)
#: Short words that may stand before a number without naming anything ("de 1 a 5", "en 2 días").
_NOT_A_STREET = frozenset(
    (
        "a", "al", "de", "del", "el", "la", "las", "lo", "los", "en", "y", "o", "u", "e", "por", "para", "con",
        "sin", "hasta", "entre", "cada", "unos", "unas", "un", "una", "su", "sus", "tu", "tus", "mas", "menos",
        "hay", "son", "es",
    )
)  # fmt: skip


def fold(text: str) -> str:
    """Lowercase, accents stripped, runs of spaces made one: how facts are compared."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return _SPACE.sub(" ", "".join(c for c in decomposed if not unicodedata.combining(c))).strip()


def rewording_problems(original: str, reworded: str, *, max_chars: int, keep: tuple[str, ...] = ()) -> list[str]:
    """What the rewording broke, as short codes naming no personal value; empty when it may be used."""
    problems: list[str] = []
    if not reworded.strip():
        return ["empty"]
    if len(reworded) > max_chars:
        problems.append("too_long")
    if Counter(_DIGITS.findall(original)) != Counter(_DIGITS.findall(reworded)):
        problems.append("numbers_changed")
    folded_original, folded = fold(original), fold(reworded)
    padded, padded_original = f" {_words_only(folded)} ", f" {_words_only(folded_original)} "
    required = {
        "lost_name": _names(original),
        "lost_street": _streets(original),
        "lost_quote": _quoted(original),
        "lost_keep": [fact for fact in keep if _words_only(fold(fact))],
    }
    for code, facts in required.items():
        if any(f" {_words_only(fold(fact))} " not in padded for fact in facts):
            problems.append(code)
    runs_original, runs = _runs(padded_original), _runs(padded)
    for kind, phrases in (("comuna", _comuna_words()), ("service", _SERVICES), ("date", _DATES)):
        before, after = runs_original & phrases, runs & phrases
        if before - after:
            problems.append(f"lost_{kind}")
        if after - before:
            problems.append(f"{kind}_added")
    if (runs & _NUMBERS) - runs_original:
        problems.append("number_word_added")
    if any(stem in padded and stem not in padded_original for stem in _stem_keys()):
        problems.append("promise_added")
    if len(_LINK.findall(reworded)) > len(_LINK.findall(original)):
        problems.append("link_added")
    if len(_MONEY.findall(reworded)) > len(_MONEY.findall(original)):
        problems.append("money_added")
    if Counter(_BRACKETED.findall(reworded)) - Counter(_BRACKETED.findall(original)):
        problems.append("placeholder_left")
    if "?" in original and "?" not in reworded:
        problems.append("question_lost")
    return problems


def _words_only(folded: str) -> str:
    """Words and numbers only, one space apart: phrases are then found on word boundaries."""
    return " ".join(_TOKEN.findall(folded))


@cache
def _stem_keys() -> tuple[str, ...]:
    # Stems are matched at the start of a word: " cobr" finds "cobramos" but not "descobrar".
    return tuple(f" {stem}" for stem in _PROMISE_STEMS)


@cache
def _comuna_words() -> frozenset[str]:
    return frozenset(_words_only(fold(comuna)) for comuna in all_comunas())


_SERVICES, _DATES, _NUMBERS = frozenset(_SERVICE_WORDS), frozenset(_DATE_WORDS), frozenset(_NUMBER_WORDS)
#: The longest phrase of the lists above, in words ("San Pedro de la Paz", "Alto del Carmen", ...).
_LONGEST_PHRASE = 6


def _runs(padded: str) -> set[str]:
    """Every run of up to a few consecutive words: phrases of the lists are looked up among them."""
    words = padded.split()
    return {" ".join(words[i : i + n]) for n in range(1, _LONGEST_PHRASE + 1) for i in range(len(words) - n + 1)}


def _quoted(text: str) -> list[str]:
    return [next(group for group in match.groups() if group) for match in _QUOTED.finditer(text)]


def _names(text: str) -> list[str]:
    """Words written with a capital inside a sentence, and a capitalised first word followed by another."""
    words = list(_WORD.finditer(text))
    names = []
    for index, match in enumerate(words):
        word = match.group(0)
        if len(word) < 2 or not word[0].isupper():
            continue
        if not _starts_sentence(text, match.start()):
            names.append(word)
            continue
        following = words[index + 1] if index + 1 < len(words) else None
        joined = following is not None and not text[match.end() : following.start()].strip()
        if joined and following is not None and following.group(0)[0].isupper():
            names.append(word)
    return names


def _starts_sentence(text: str, start: int) -> bool:
    before = text[:start]
    stripped = before.rstrip(_OPENERS)
    if "\n" in before[len(stripped) :] or not stripped:
        return True
    # An emoji or other symbol before the word: look past it too.
    while stripped and not stripped[-1].isalnum() and stripped[-1] not in _SENTENCE_ENDS and stripped[-1] not in ",;":
        stripped = stripped[:-1].rstrip(_OPENERS)
    return not stripped or stripped.endswith(_SENTENCE_ENDS)


def _streets(text: str) -> list[str]:
    """ "Irarrázaval 1234", "depto 5": the word naming a number, with it (not "de 1" nor "en 2")."""
    found = []
    for match in re.finditer(r"([^\W\d_]{2,})[ \t]+(\d+)", text):
        word = fold(match.group(1))
        if word not in _NOT_A_STREET and word not in _DATE_WORDS:
            found.append(f"{match.group(1)} {match.group(2)}")
    return found
