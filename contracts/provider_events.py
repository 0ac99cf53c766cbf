"""Events of a technician's stream (``provider-<provider_id>``), written when operators register or change one.

Assignments, completions and ratings are recorded on the customers' streams (``contracts.lead_events``);
the provider read model folds both.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from contracts.events import Event
from contracts.intent import Service


class ProviderRegistered(Event):
    TYPE = "ProviderRegistered"
    SCHEMA_VERSION = 1

    provider_id: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=100)
    #: WhatsApp id (digits, country code first, no "+"), e.g. "56912345678".
    phone: str = Field(pattern=r"^[1-9][0-9]{7,14}$")
    services: tuple[Service, ...] = Field(min_length=1)
    #: Canonical official comuna names.
    comunas: tuple[str, ...] = Field(min_length=1)
    capacity: int = Field(ge=1)
    active: bool
    registered_at: datetime


class ProviderUpdated(Event):
    """Only the fields that changed are set."""

    TYPE = "ProviderUpdated"
    SCHEMA_VERSION = 1

    provider_id: str = Field(min_length=1)
    name: str | None = Field(default=None, min_length=1, max_length=100)
    phone: str | None = Field(default=None, pattern=r"^[1-9][0-9]{7,14}$")
    services: tuple[Service, ...] | None = Field(default=None, min_length=1)
    comunas: tuple[str, ...] | None = Field(default=None, min_length=1)
    capacity: int | None = Field(default=None, ge=1)
    updated_at: datetime


class ProviderDeactivated(Event):
    TYPE = "ProviderDeactivated"
    SCHEMA_VERSION = 1

    provider_id: str = Field(min_length=1)
    reason: str | None = None
    deactivated_at: datetime


class ProviderActivated(Event):
    TYPE = "ProviderActivated"
    SCHEMA_VERSION = 1

    provider_id: str = Field(min_length=1)
    activated_at: datetime
