"""Events of a technician's stream (``provider-<provider_id>``), written when operators register or change one.

Assignments, completions and ratings are recorded on the customers' streams (``contracts.lead_events``);
the provider read model folds both.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from contracts.events import Event
from contracts.intent import Service

#: A technician's WhatsApp id (digits, country code first, no "+"), or ``[suprimido]`` once forgotten (a
#: forgotten technician's sealed phone reads so).
_PHONE = r"^([1-9][0-9]{7,14}|\[suprimido\])$"


class ProviderRegistered(Event):
    TYPE = "ProviderRegistered"
    SCHEMA_VERSION = 1

    provider_id: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=100)
    #: WhatsApp id (digits, country code first, no "+"), e.g. "56912345678".
    phone: str = Field(pattern=_PHONE)
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
    phone: str | None = Field(default=None, pattern=_PHONE)
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


class ProviderForgotten(Event):
    """The technician was erased (``conectapro privacy forget``): deactivated for good, and their name and
    phone read as ``[suprimido]`` in every view and read model from here on (their key is destroyed with
    it; a legacy technician's registration, written in clear before sealing, stays so in the store)."""

    TYPE = "ProviderForgotten"
    SCHEMA_VERSION = 1

    provider_id: str = Field(min_length=1)
    #: The leads they were offered or assigned: the read models blank what those leads' messages say of them.
    leads: tuple[str, ...] = ()
    forgotten_at: datetime


class ProviderErasureRequested(Event):
    """The technician asked on WhatsApp that their data be erased ("borra mis datos"). Nothing is erased on
    this: an admin erases technicians, once they hold no job (``privacy requests`` lists it as pending)."""

    TYPE = "ProviderErasureRequested"
    SCHEMA_VERSION = 1

    provider_id: str = Field(min_length=1)
    #: Whether they held a job or an offer then (the admin has to wait for it to end, or force).
    jobs_in_progress: int = Field(ge=0)
    requested_at: datetime
