"""Comparing re-decided events with the stored ones, as readable lines (one per field that differs)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from audit.stored import StoredEvent
from contracts.events import Event, upcast
from contracts.personal import (
    PERSONAL_FIELDS,
    SUPPRESSED,
    forgotten_paths,
    personal_value,
    with_personal_value,
)

_VALUE_CHARS = 160


class _Absent:
    """A field one side has and the other does not."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


def _short(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    text = orjson.dumps(value).decode()
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"


def field_differences(stored: Any, expected: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(dotted path, stored value, re-decided value) for every leaf that differs."""
    if isinstance(stored, dict) and isinstance(expected, dict):
        for key in sorted(stored.keys() | expected.keys()):
            child = f"{path}.{key}" if path else key
            yield from field_differences(stored.get(key, ABSENT), expected.get(key, ABSENT), child)
    elif isinstance(stored, list) and isinstance(expected, list) and len(stored) == len(expected):
        for index, (a, b) in enumerate(zip(stored, expected, strict=True)):
            yield from field_differences(a, b, f"{path}[{index}]")
    elif stored != expected:
        yield path, stored, expected


def compare(decided: Sequence[Event], stored: Sequence[StoredEvent]) -> list[str]:
    """Readable lines for every difference between re-decided and stored events (empty when identical)."""
    lines: list[str] = []
    for index in range(max(len(decided), len(stored))):
        if index >= len(decided):
            extra = stored[index]
            lines.append(f"v{extra.stream_version} {extra.type}: stored, but the decision does not produce it")
            continue
        event = decided[index]
        if index >= len(stored):
            lines.append(f"{event.TYPE}: the decision produces it, but it is not stored: {_short(_dump(event))}")
            continue
        row = stored[index]
        if row.type != event.TYPE:
            lines.append(f"v{row.stream_version}: stored {row.type}, the decision produces {event.TYPE}")
            continue
        actual, expected = upcast(row.type, row.schema_version, row.data), _dump(event)
        # A forgotten person's values cannot be checked: the rest of the event still is. Nor can a value
        # re-decided from an input recorded suppressed (the apology's phone: ``PERSONAL_COMMAND_FIELDS``).
        for path in forgotten_paths(row.type, actual):
            if personal_value(expected, path) is not None:
                expected = with_personal_value(expected, path, SUPPRESSED)
        for path in forgotten_paths(row.type, expected):
            stored_value = personal_value(actual, path)
            if stored_value is not None:
                expected = with_personal_value(expected, path, stored_value)
        expected = _around_forgotten_inputs(row.type, actual, expected)
        if actual != expected:
            lines.extend(
                f"v{row.stream_version} {row.type}.{path}: stored {_short(a)}, re-decided {_short(b)}"
                for path, a, b in field_differences(actual, expected)
            )
    return lines


def _around_forgotten_inputs(event_type: str, actual: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """A text re-decided from a forgotten input (a forgotten technician's name in a reply to a customer who
    still has their key) is checked on everything around the forgotten part."""
    for path in PERSONAL_FIELDS.get(event_type, ()):
        value, stored = personal_value(expected, path), personal_value(actual, path)
        if isinstance(value, str) and SUPPRESSED in value and isinstance(stored, str) and stored != value:
            pattern = ".+".join(re.escape(part) for part in value.split(SUPPRESSED))
            if re.fullmatch(pattern, stored, flags=re.DOTALL):
                expected = with_personal_value(expected, path, stored)
    return expected


def _dump(event: Event) -> dict[str, Any]:
    # The serializer itself: what model_dump(mode="json") calls, without its per-call Python overhead.
    dumped: dict[str, Any] = type(event).__pydantic_serializer__.to_python(event, mode="json")
    return dumped
