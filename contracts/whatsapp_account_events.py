"""Events about our WhatsApp business account itself (``value.errors`` and unattributable updates)."""

from __future__ import annotations

from datetime import datetime

from contracts.events import Event


class WhatsAppErrorReported(Event):
    """Meta reported a problem not tied to one conversation, or an update named nobody we can answer."""

    TYPE = "WhatsAppErrorReported"
    SCHEMA_VERSION = 1

    code: int | None = None
    title: str | None = None
    message: str | None = None
    details: str | None = None
    reported_at: datetime
