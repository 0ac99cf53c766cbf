"""The wall clock the services hand to the pure domain (which never reads it itself)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
