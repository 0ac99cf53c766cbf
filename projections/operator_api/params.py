"""Query and path parameters shared by the routes, with the constraints the OpenAPI document shows."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator, BeforeValidator

from contracts.comunas import lookup_comuna
from projections.operator_api.errors import invalid

# RFC 3339 (what the document's `date-time` promises), not whatever else pydantic would take for a datetime
# (a bare date, a unix timestamp such as "0.5").
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339(value: object) -> object:
    if isinstance(value, str) and not _RFC3339.fullmatch(value):
        raise ValueError("an RFC 3339 date-time with its offset, e.g. 2025-03-01T00:00:00-03:00")
    return value


def _instant(value: datetime) -> datetime:
    """A moment PostgreSQL can store: out-of-range offsets are refused, not overflowed."""
    try:
        return value.astimezone(UTC)
    except OverflowError as error:  # e.g. year 1 with a positive offset
        raise ValueError("out of range") from error


Instant = Annotated[datetime, BeforeValidator(_rfc3339), AfterValidator(_instant)]

Limit = Annotated[int, Query(ge=1, le=200, description="Page size (1-200)")]
Cursor = Annotated[
    str | None, Query(min_length=1, max_length=512, description="The `next_cursor` of the previous page")
]
ComunaQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=100, description="Official comuna name; accents and case optional"),
]


def canonical_comuna(name: str | None, where: str = "query", field: str = "comuna") -> str | None:
    """The official name, or a 422 for a name that is not a comuna (never guessed)."""
    if name is None:
        return None
    canonical = lookup_comuna(name)
    if canonical is None:
        raise invalid(where, field, "not an official comuna name")
    return canonical
