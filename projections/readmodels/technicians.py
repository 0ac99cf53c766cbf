"""Read model ``read_models.technicians``: coverage, capacity, load and ratings of every technician.

The fold is the orchestrator's own (``evolve_provider_view``, the view matching decides on), so the operator
sees exactly the load and coverage the matcher sees; this module only adds what operators want on top
(jobs completed, registration and last-change times).
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from contracts.events import Event
from contracts.intent import Service
from contracts.lead_events import (
    JobCompleted,
    LeadAssigned,
    LeadCancelled,
    LeadClosed,
    LeadRated,
    OfferAccepted,
    OfferDeclined,
    OfferExpired,
    ProviderOffered,
)
from contracts.provider_events import (
    ProviderActivated,
    ProviderDeactivated,
    ProviderForgotten,
    ProviderRegistered,
    ProviderUpdated,
)
from orchestrator.domain.providers import ProviderView, evolve_provider_view
from projections.envelope import EventContext
from projections.projector import Projector
from projections.table import Table


class TechnicianRow(NamedTuple):
    provider_id: str
    name: str
    phone: str
    services: tuple[str, ...]
    #: Sorted, for a stable row (the view holds a set).
    comunas: tuple[str, ...]
    capacity: int
    active: bool
    active_leads: tuple[str, ...]
    pending_offers: tuple[str, ...]
    active_jobs: int
    jobs_completed: int
    rating_sum: int
    rating_count: int
    rating_avg: float | None
    last_assigned_at: datetime | None
    registered_at: datetime
    updated_at: datetime


TECHNICIANS = Table(
    "read_models.technicians",
    TechnicianRow,
    {
        "provider_id": "text", "name": "text", "phone": "text", "services": "jsonb", "comunas": "jsonb",
        "capacity": "integer", "active": "boolean", "active_leads": "jsonb", "pending_offers": "jsonb",
        "active_jobs": "integer", "jobs_completed": "integer", "rating_sum": "integer", "rating_count": "integer",
        "rating_avg": "double precision", "last_assigned_at": "timestamptz", "registered_at": "timestamptz",
        "updated_at": "timestamptz",
    },
    decoders={"services": tuple, "comunas": tuple, "active_leads": tuple, "pending_offers": tuple},
)  # fmt: skip


def view_of(row: TechnicianRow) -> ProviderView:
    return ProviderView(
        provider_id=row.provider_id,
        name=row.name,
        phone=row.phone,
        services=tuple(Service(s) for s in row.services),
        comunas=frozenset(row.comunas),
        capacity=row.capacity,
        active=row.active,
        active_leads=row.active_leads,
        pending_offers=row.pending_offers,
        rating_sum=row.rating_sum,
        rating_count=row.rating_count,
        last_assigned_at=row.last_assigned_at,
    )


def row_of(
    view: ProviderView, *, jobs_completed: int, registered_at: datetime, updated_at: datetime
) -> TechnicianRow:
    return TechnicianRow(
        provider_id=view.provider_id,
        name=view.name,
        phone=view.phone,
        services=tuple(s.value for s in view.services),
        comunas=tuple(sorted(view.comunas)),
        capacity=view.capacity,
        active=view.active,
        active_leads=view.active_leads,
        pending_offers=view.pending_offers,
        active_jobs=view.active_jobs,
        jobs_completed=jobs_completed,
        rating_sum=view.rating_sum,
        rating_count=view.rating_count,
        rating_avg=view.rating_avg,
        last_assigned_at=view.last_assigned_at,
        registered_at=registered_at,
        updated_at=updated_at,
    )


def evolve_technician(row: TechnicianRow | None, event: Event, ctx: EventContext) -> TechnicianRow | None:
    before = view_of(row) if row is not None else None
    after = evolve_provider_view(before, event)
    if after is None:
        return row  # a lead event about a technician registered where we have not looked: nothing to show
    completed = isinstance(event, JobCompleted)
    if after == before and not completed:
        return row
    if isinstance(event, ProviderRegistered):
        registered_at, jobs = event.registered_at, (row.jobs_completed if row is not None else 0)
    else:
        assert row is not None  # evolve_provider_view only creates a view from a registration
        registered_at, jobs = row.registered_at, row.jobs_completed
    return row_of(after, jobs_completed=jobs + (1 if completed else 0), registered_at=registered_at,
                  updated_at=ctx.recorded_at)


def technician_key(event: Event, _: EventContext) -> str | None:
    provider_id: str | None = getattr(event, "provider_id", None)
    return provider_id


TECHNICIAN_EVENT_TYPES = frozenset(
    cls.TYPE
    for cls in (
        ProviderRegistered, ProviderUpdated, ProviderDeactivated, ProviderActivated, ProviderForgotten,
        ProviderOffered,
        OfferDeclined, OfferExpired, OfferAccepted, LeadAssigned, JobCompleted, LeadCancelled, LeadClosed,
        LeadRated,
    )
)  # fmt: skip

TECHNICIANS_PROJECTOR: Projector[str, TechnicianRow] = Projector(
    TECHNICIANS, TECHNICIAN_EVENT_TYPES, technician_key, evolve_technician
)
