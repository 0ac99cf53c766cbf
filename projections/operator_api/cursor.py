"""Opaque page cursors: the sort key of the last row served, as base64url JSON.

Opaque so that clients cannot build or depend on them; keyset-based (not offsets) so that a page never
skips nor repeats a row while new leads keep arriving.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any

import orjson


class InvalidCursor(ValueError):
    pass


# What a cursor may carry back into a query: ids of the shapes the API gives out, nothing else.
_LEAD_ID = re.compile(r"[A-Za-z0-9_-]{1,128}\.[1-9][0-9]{0,8}")
_PROVIDER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def encode(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def decode(cursor: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = orjson.loads(raw)
    except (binascii.Error, ValueError) as error:
        raise InvalidCursor("not a cursor this API gave out") from error
    if not isinstance(values, dict):
        raise InvalidCursor("not a cursor this API gave out")
    return values


def lead_cursor(created_at: datetime, lead_id: str) -> str:
    return encode({"c": created_at.isoformat(), "l": lead_id})


def decode_lead_cursor(cursor: str) -> tuple[datetime, str]:
    values = decode(cursor)
    try:
        created_at = datetime.fromisoformat(str(values["c"]))
        lead_id = values["l"]
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidCursor("not a cursor of this listing") from error
    if not isinstance(lead_id, str) or not _LEAD_ID.fullmatch(lead_id) or created_at.tzinfo is None:
        raise InvalidCursor("not a cursor of this listing")
    return created_at, lead_id


def provider_cursor(provider_id: str) -> str:
    return encode({"p": provider_id})


def decode_provider_cursor(cursor: str) -> str:
    provider_id = decode(cursor).get("p")
    if not isinstance(provider_id, str) or not _PROVIDER_ID.fullmatch(provider_id):
        raise InvalidCursor("not a cursor of this listing")
    return provider_id


def request_cursor(position: int) -> str:
    return encode({"r": position})


def decode_request_cursor(cursor: str) -> int:
    """The ``privacy-requests`` stream position a page of requests ended at."""
    position = decode(cursor).get("r")
    if not isinstance(position, int) or isinstance(position, bool) or not 0 < position < 2**62:
        raise InvalidCursor("not a cursor of this listing")
    return position
