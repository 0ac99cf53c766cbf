"""Read model ``read_models.leads``: one row per lead, as operators look for it.

The status follows the domain's own transition table (``LEAD_TRANSITIONS`` via ``LEAD_TRIGGER_OF_EVENT``),
so the read model can never disagree with the orchestrator about what a lead event means. A pair the table
does not list leaves the status alone: auditing broken streams is the audit's job, not the projection's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from contracts.events import Event
from contracts.lead_events import (
    JobCompleted,
    LeadAssigned,
    LeadCancelled,
    LeadClosed,
    LeadDrafted,
    LeadExpired,
    LeadFields,
    LeadFieldsCaptured,
    LeadRated,
    LeadStatus,
    LeadSubmitted,
    LeadUnmatched,
    MatchingAttempted,
    OfferDeclined,
    OfferExpired,
    ProviderOffered,
)
from orchestrator.domain.evolve import LEAD_TRIGGER_OF_EVENT
from orchestrator.domain.states import LEAD_TRANSITIONS
from projections.envelope import EventContext
from projections.projector import Projector
from projections.readmodels.forgotten import (
    FORGOTTEN,
    TECHNICIAN_FORGOTTEN,
    blank,
    rows_of_person,
    rows_of_technician,
)
from projections.table import Table


class LeadRow(NamedTuple):
    lead_id: str
    customer_key: str
    customer_phone: str | None
    status: str
    service: str | None = None
    comuna: str | None = None
    urgency: str | None = None
    problem: str | None = None
    address: str | None = None
    consent: bool = False
    match_attempts: int = 0
    offered_to: str | None = None
    provider_id: str | None = None
    provider_name: str | None = None
    provider_phone: str | None = None
    rating: int | None = None
    end_reason: str | None = None
    created_at: datetime | None = None
    submitted_at: datetime | None = None
    offered_at: datetime | None = None
    assigned_at: datetime | None = None
    completed_at: datetime | None = None
    rated_at: datetime | None = None
    closed_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 0


LEADS = Table(
    "read_models.leads",
    LeadRow,
    {
        "lead_id": "text", "customer_key": "text", "customer_phone": "text", "status": "text",
        "service": "text", "comuna": "text", "urgency": "text", "problem": "text", "address": "text",
        "consent": "boolean", "match_attempts": "integer", "offered_to": "text", "provider_id": "text",
        "provider_name": "text", "provider_phone": "text", "rating": "integer", "end_reason": "text",
        "created_at": "timestamptz", "submitted_at": "timestamptz", "offered_at": "timestamptz",
        "assigned_at": "timestamptz", "completed_at": "timestamptz", "rated_at": "timestamptz",
        "closed_at": "timestamptz", "updated_at": "timestamptz", "version": "integer",
    },
)  # fmt: skip


def _next_status(status: str, event: Event) -> str:
    trigger = LEAD_TRIGGER_OF_EVENT.get(event.TYPE)
    if trigger is None:
        return status
    target = LEAD_TRANSITIONS.get((LeadStatus(status), trigger))
    return target.value if target is not None else status


def _fields(fields: LeadFields) -> dict[str, Any]:
    """The fields an event sets (None means "not given here"), as row columns."""
    values = {
        "service": fields.service.value if fields.service is not None else None,
        "comuna": fields.comuna,
        "urgency": fields.urgency.value if fields.urgency is not None else None,
        "problem": fields.problem,
        "address": fields.address,
    }
    return {name: value for name, value in values.items() if value is not None}


def _changes(event: Event) -> dict[str, Any]:
    """What ``event`` changes besides the status and the bookkeeping columns."""
    match event:
        case LeadFieldsCaptured():
            return _fields(event.fields)
        case LeadSubmitted():
            return {**_fields(event.fields), "consent": event.consent, "submitted_at": event.submitted_at}
        case MatchingAttempted():
            return {"match_attempts": event.attempt}
        case ProviderOffered():
            return {"offered_to": event.provider_id, "offered_at": event.offered_at}
        case OfferDeclined() | OfferExpired():
            return {"offered_to": None}
        case LeadAssigned():
            return {
                "offered_to": None,
                "provider_id": event.provider_id,
                "provider_name": event.provider_name,
                "provider_phone": event.provider_phone,
                "assigned_at": event.assigned_at,
            }
        case LeadUnmatched():
            return {"closed_at": event.unmatched_at, "end_reason": event.reason}
        case JobCompleted():
            return {"completed_at": event.completed_at}
        case LeadRated():
            return {"rating": event.rating, "rated_at": event.rated_at, "closed_at": event.rated_at}
        case LeadCancelled():
            return {
                "offered_to": None, "closed_at": event.cancelled_at,
                "end_reason": f"cancelled by the customer while {event.previous_status.value}",
            }  # fmt: skip
        case LeadExpired():
            return {"closed_at": event.expired_at, "end_reason": f"expired while {event.previous_status.value}"}
        case LeadClosed():
            return {"offered_to": None, "closed_at": event.closed_at, "end_reason": event.reason}
    return {}


def _forget(row: LeadRow) -> LeadRow:
    """The customer's values blanked, with the technician's name and phone as their lead recorded them
    (sealed with the customer's key: ``contracts.personal``); the technician's own rows stay."""
    blanked = row._replace(customer_phone=blank(row.customer_phone), problem=blank(row.problem),
                           address=blank(row.address), provider_name=blank(row.provider_name),
                           provider_phone=blank(row.provider_phone))  # fmt: skip
    return row if blanked == row else blanked


def _forget_technician(row: LeadRow) -> LeadRow:
    """The assigned technician's name and phone blanked (they were forgotten); the customer's values stay."""
    blanked = row._replace(provider_name=blank(row.provider_name), provider_phone=blank(row.provider_phone))
    return row if blanked == row else blanked


def evolve_lead(row: LeadRow | None, event: Event, ctx: EventContext) -> LeadRow | None:
    if event.TYPE == FORGOTTEN:
        return None if row is None else _forget(row)
    if event.TYPE == TECHNICIAN_FORGOTTEN:
        return None if row is None else _forget_technician(row)
    if isinstance(event, LeadDrafted):
        if row is not None:
            return row
        return LeadRow(
            lead_id=event.lead_id,
            customer_key=event.customer_key,
            customer_phone=event.phone,
            status=LeadStatus.DRAFT.value,
            created_at=event.drafted_at,
            updated_at=ctx.recorded_at,
            version=ctx.stream_version,
        )
    if row is None:
        return None  # an event about a lead whose draft this projection never saw: nothing to attach it to
    changes = _changes(event)
    status = _next_status(row.status, event)
    if not changes and status == row.status:
        return row
    return row._replace(**changes, status=status, updated_at=ctx.recorded_at, version=ctx.stream_version)


def lead_key(event: Event, _: EventContext) -> str | None:
    lead_id: str | None = getattr(event, "lead_id", None)
    return lead_id


LEAD_EVENT_TYPES = frozenset(
    cls.TYPE
    for cls in (
        LeadDrafted, LeadFieldsCaptured, LeadSubmitted, MatchingAttempted, ProviderOffered, OfferDeclined,
        OfferExpired, LeadAssigned, LeadUnmatched, JobCompleted, LeadRated, LeadCancelled, LeadExpired, LeadClosed,
    )
)  # fmt: skip

LEADS_PROJECTOR: Projector[str, LeadRow] = Projector(
    LEADS, LEAD_EVENT_TYPES, lead_key, evolve_lead,
    selects={FORGOTTEN: rows_of_person("customer_key"), TECHNICIAN_FORGOTTEN: rows_of_technician("provider_id")},
)  # fmt: skip
