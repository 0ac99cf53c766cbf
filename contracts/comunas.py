"""The comuna allowlist: exact, accent- and case-insensitive lookup over Chile's official 346 comunas.

A contract, not a guesser: ``lookup_comuna`` answers only for an official name or an explicit alias after
normalisation. Typo tolerance lives in the understanding rules (``orchestrator.understanding``), which may
propose a name but must still pass it through this allowlist.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

from contracts.comunas_data import COMUNAS

_NON_ALNUM = re.compile(r"[^a-z0-9]+")

#: Everyday names customers write, keyed by their normalised form. Only unambiguous ones: a nickname that
#: could mean two comunas ("san pedro" alone, "quinta") is deliberately absent.
_ALIASES_RAW: dict[str, str] = {
    # Santiago: people say "centro" to tell the comuna from the city/region.
    "santiago centro": "Santiago",
    "stgo": "Santiago",
    "stgo centro": "Santiago",
    "sgo": "Santiago",
    "sgo centro": "Santiago",
    "pac": "Pedro Aguirre Cerda",
    "p a c": "Pedro Aguirre Cerda",
    "est central": "Estación Central",
    "conce": "Concepción",
    "viña": "Viña del Mar",
    "valpo": "Valparaíso",
    "pta arenas": "Punta Arenas",
    "pto montt": "Puerto Montt",
    "pto varas": "Puerto Varas",
    # Official spellings that differ from everyday ones.
    "la calera": "Calera",
    "llay llay": "Llaillay",
    "llay-llay": "Llaillay",
    "til til": "Tiltil",
    "chol chol": "Cholchol",
    "aisén": "Aysén",
    "puerto aysén": "Aysén",
    "puerto aisén": "Aysén",
    "coihaique": "Coyhaique",
    "puerto natales": "Natales",
    "rapa nui": "Isla de Pascua",
    "san francisco de mostazal": "Mostazal",
    "marchigüe": "Marchihue",
    "paihuano": "Paiguano",
    "trehuaco": "Treguaco",
    "san vicente de tagua tagua": "San Vicente",
    "san josé de la mariquina": "Mariquina",
    "ohiggins": "O'Higgins",
    "alto bio bio": "Alto Biobío",
}


def normalize_text(s: str) -> str:
    """Lowercase, strip accents (ñ→n, ü→u), turn every run of non-alphanumerics into one space, trim.

    ``"  Peñalolén, ¡URGENTE! "`` → ``"penalolen urgente"``. Digits are kept (addresses need them).
    """
    decomposed = unicodedata.normalize("NFKD", s.casefold())
    without_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_ALNUM.sub(" ", without_marks).strip()


@cache
def _index() -> Mapping[str, str]:
    index: dict[str, str] = {}
    for record in COMUNAS:
        key = normalize_text(record.comuna)
        # Two comunas colliding after normalisation would make lookups ambiguous; fail at import, not later.
        if key in index:
            raise ValueError(f"comunas {index[key]!r} and {record.comuna!r} normalise to the same key")
        index[key] = record.comuna
    for alias, canonical in _ALIASES_RAW.items():
        key = normalize_text(alias)
        if canonical not in index.values():
            raise ValueError(f"alias {alias!r} points to unknown comuna {canonical!r}")
        if key in index and index[key] != canonical:
            raise ValueError(f"alias {alias!r} shadows the comuna {index[key]!r}")
        index[key] = canonical
    return MappingProxyType(index)


def comuna_index() -> Mapping[str, str]:
    """Normalised official name or alias → canonical official name (read-only)."""
    return _index()


def lookup_comuna(text: str) -> str | None:
    """The canonical comuna named by ``text`` (an official name or alias, any case or accents), else None."""
    return _index().get(normalize_text(text))


def all_comunas() -> tuple[str, ...]:
    """All 346 canonical comuna names, north to south."""
    return tuple(record.comuna for record in COMUNAS)


@cache
def _region_by_comuna() -> Mapping[str, str]:
    return MappingProxyType({record.comuna: record.region for record in COMUNAS})


def region_of(comuna: str) -> str | None:
    """The región of a canonical comuna name, else None."""
    return _region_by_comuna().get(comuna)
