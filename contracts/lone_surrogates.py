"""Lone surrogates: half of a UTF-16 pair, which JSON can write (``"\\ud800"``) and UTF-8 cannot.

orjson, pydantic's JSON parser, NATS headers and PostgreSQL all refuse them, so one in a customer's text
would have the whole authentic webhook parked. Such a body is read with the standard library instead (it
keeps them); every field we read gets U+FFFD, Unicode's replacement character, in their place (rather
than removing them: the reader sees that something was there, and no two words are silently joined);
the raw payload keeps the values as they came and is written back with the same JSON escapes.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel

REPLACEMENT = "\ufffd"

#: A JSON escape of a surrogate code point (of a pair or alone: only the parser can tell).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
#: In a str decoded from JSON, pairs are already one character: any surrogate left is a lone one.
_LONE = re.compile("[\ud800-\udfff]")


def may_hold_lone_surrogates(body: bytes) -> bool:
    """Whether a body a strict parser refused could hold a lone surrogate (worth a second, lenient read)."""
    return _SURROGATE_ESCAPE.search(body) is not None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Keys are field names, Meta's and never what a person typed, and pydantic cannot hold one with a lone
    # surrogate even in the raw mapping: they get U+FFFD, values are kept.
    return {without_lone_surrogates(key): value for key, value in pairs}


def loads_keeping_lone_surrogates(body: bytes | str) -> Any:
    """The JSON value of ``body``, lone surrogates kept in its strings (not in its keys); as strict as orjson
    otherwise (no NaN, Infinity).

    Raises ValueError for invalid JSON and RecursionError for nesting too deep to read."""
    return json.loads(body, parse_constant=_refuse_constant, object_pairs_hook=_object)


def dumps_keeping_lone_surrogates(value: Any) -> bytes:
    """JSON bytes of ``value``; lone surrogates are written as the escapes they were read from."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def without_lone_surrogates(value: Any) -> Any:
    """``value`` with every lone surrogate of its strings (keys included) replaced by U+FFFD; the same
    object when it holds none."""
    if isinstance(value, str):
        return _LONE.sub(REPLACEMENT, value) if _LONE.search(value) else value
    if isinstance(value, dict):
        cleaned = {without_lone_surrogates(k): without_lone_surrogates(v) for k, v in value.items()}
        return value if _same(cleaned, value) else cleaned
    if isinstance(value, list | tuple):
        items = [without_lone_surrogates(item) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else type(value)(items)
    if isinstance(value, BaseModel):
        dumped = value.model_dump(by_alias=True)
        cleaned = without_lone_surrogates(dumped)
        return value if cleaned is dumped else cleaned
    return value


def _same(cleaned: dict[Any, Any], value: dict[Any, Any]) -> bool:
    # Two keys that differ only by a lone surrogate become one: then the dict did change.
    return len(cleaned) == len(value) and all(
        ck is k and cv is v for (ck, cv), (k, v) in zip(cleaned.items(), value.items(), strict=True)
    )
