"""Request and response bodies of the operator API: every endpoint answers one of these (the OpenAPI
document lists them all, errors included)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts.intent import Service
from contracts.lead_events import ConversationState, LeadStatus

# ------------------------------------------------------------------------------------- shared pieces

#: Printable text: no control characters (PostgreSQL and jsonb refuse NUL; none belongs in a name).
PlainText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, pattern=r"^[^\x00-\x1f\x7f]+$")]
CustomerKeyParam = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,128}$")]
ProviderIdParam = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
LeadIdParam = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,128}\.[1-9][0-9]{0,8}$")]
StreamIdParam = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:@-]{1,200}$")]

_OUT = ConfigDict(frozen=True)


class ErrorOut(BaseModel):
    """Why the request was refused (401, 404, 409, 503)."""

    model_config = _OUT

    detail: str


class ValidationIssue(BaseModel):
    model_config = _OUT

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(BaseModel):
    """422: which parameter is wrong and why (the value itself is never echoed back)."""

    model_config = _OUT

    detail: list[ValidationIssue]


# ------------------------------------------------------------------------------------------- leads


class LeadOut(BaseModel):
    model_config = _OUT

    lead_id: str
    customer_id: str
    customer_phone: str | None
    status: LeadStatus
    service: Service | None
    comuna: str | None
    urgency: str | None
    problem: str | None
    address: str | None
    consent: bool
    match_attempts: int
    offered_to: str | None
    technician_id: str | None
    technician_name: str | None
    technician_phone: str | None
    rating: int | None
    end_reason: str | None
    created_at: datetime
    submitted_at: datetime | None
    offered_at: datetime | None
    assigned_at: datetime | None
    completed_at: datetime | None
    rated_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime


class LeadPage(BaseModel):
    model_config = _OUT

    items: list[LeadOut]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class EventOut(BaseModel):
    """A stored event, as recorded (the envelope of DESIGN.md plus its place in the global order)."""

    model_config = _OUT

    event_id: UUID
    stream_id: str
    stream_version: int
    global_position: int
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]


class LeadDetail(LeadOut):
    #: The lead's own events from its customer's stream, in order.
    history: list[EventOut]


# ----------------------------------------------------------------------------------- conversations


class CapturedFields(BaseModel):
    model_config = _OUT

    service: Service | None = None
    comuna: str | None = None
    problem: str | None = None
    urgency: str | None = None
    address: str | None = None


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class MessageOut(BaseModel):
    model_config = _OUT

    direction: Direction
    at: datetime
    #: The inbound wamid, or the reply id of an outbound message.
    id: str
    type: str
    text: str | None = None
    reply_id: str | None = None
    purpose: str | None = None


class ConversationOut(BaseModel):
    model_config = _OUT

    customer_id: str
    stream_id: str
    phone: str | None
    profile_name: str | None
    state: ConversationState
    #: What the bot is waiting for (service, comuna, ..., confirmation, rating) or "none".
    pending_question: str
    fields: CapturedFields
    current_lead: LeadOut | None
    leads_started: int
    messages_in: int
    messages_out: int
    #: The last messages in and out, oldest first (the timeline has all of them).
    recent_messages: list[MessageOut]
    started_at: datetime
    last_message_at: datetime | None
    updated_at: datetime


class EntryKind(StrEnum):
    MESSAGE_IN = "message_in"
    UNDERSTANDING = "understanding"
    DECISION = "decision"
    MESSAGE_OUT = "message_out"
    SENT = "sent"
    SEND_FAILED = "send_failed"
    DELIVERY = "delivery"


class TimelineEntry(BaseModel):
    model_config = _OUT

    position: int
    at: datetime
    stream_id: str
    stream_version: int
    type: str
    kind: EntryKind
    #: Who: customer, technician, interactive / rules / llm (what understood a message), system, whatsapp.
    actor: str
    summary: str
    #: The wamid or reply id this entry is about, to follow a message from queued to read.
    ref: str | None = None
    data: dict[str, Any]


class TimelineOut(BaseModel):
    model_config = _OUT

    customer_id: str
    entries: list[TimelineEntry]
    #: Pass as ``after`` for the next page; null when there is nothing more.
    next_after: int | None


class EventPage(BaseModel):
    model_config = _OUT

    stream_id: str
    events: list[EventOut]
    #: Pass as ``from_version`` for the next page; null when there is nothing more.
    next_from_version: int | None


# ------------------------------------------------------------------------------------- technicians

CapacityField = Annotated[int, Field(ge=1, le=50)]
ComunaName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
ComunaList = Annotated[list[ComunaName], Field(min_length=1, max_length=346)]
ServiceList = Annotated[list[Service], Field(min_length=1, max_length=3)]


class ProviderIn(BaseModel):
    """A technician to register. The id is derived from the phone number (one number, one technician)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[PlainText, StringConstraints(max_length=100)]
    #: WhatsApp number, country code first, digits only (e.g. 56912345678).
    phone: Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{7,14}$")]
    services: ServiceList
    #: Official comuna names (accents and case optional).
    comunas: ComunaList
    capacity: CapacityField = 2
    active: bool = True


class ProviderPatch(BaseModel):
    """What to change; absent fields stay as they are. Each change is recorded as an event."""

    model_config = ConfigDict(extra="forbid")

    services: ServiceList | None = None
    comunas: ComunaList | None = None
    capacity: CapacityField | None = None
    active: bool | None = None
    #: Why a technician is deactivated (kept in the event).
    reason: Annotated[PlainText, StringConstraints(max_length=200)] | None = None


class ProviderOut(BaseModel):
    model_config = _OUT

    provider_id: str
    name: str
    phone: str
    services: list[Service]
    comunas: list[str]
    capacity: int
    active: bool
    active_jobs: int
    active_leads: list[str]
    pending_offers: list[str]
    rating_avg: float | None
    rating_count: int
    last_assigned_at: datetime | None
    #: From the read model (absent right after a change, before the projection has caught up).
    jobs_completed: int | None = None
    registered_at: datetime | None = None
    updated_at: datetime | None = None


class ProviderPage(BaseModel):
    model_config = _OUT

    items: list[ProviderOut]
    next_cursor: str | None


# ------------------------------------------------------------------------------------------- stats


class DailyOut(BaseModel):
    model_config = _OUT

    day: date
    leads_created: int
    leads_submitted: int
    leads_assigned: int
    leads_completed: int
    leads_rated: int
    leads_cancelled: int
    leads_expired: int
    leads_unmatched: int
    leads_closed: int
    messages_in: int
    messages_out: int
    replies_sent: int
    replies_failed: int
    delivery_failures: int


class TechnicianTotals(BaseModel):
    model_config = _OUT

    registered: int
    active: int
    active_jobs: int
    capacity_active: int


class ProjectionLagOut(BaseModel):
    model_config = _OUT

    projection: str
    events_behind: int
    seconds_behind: float
    checkpoint_position: int


class StatsOut(BaseModel):
    model_config = _OUT

    leads_by_status: dict[str, int]
    conversations_by_state: dict[str, int]
    technicians: TechnicianTotals
    replies_by_status: dict[str, int]
    deliveries_by_status: dict[str, int]
    #: Chilean days (America/Santiago), oldest first.
    daily: list[DailyOut]
    projections: list[ProjectionLagOut]


class HealthOut(BaseModel):
    model_config = _OUT

    status: str


# ------------------------------------------------------------------------------------- dead letters


class DeadLetterOut(BaseModel):
    """A message parked in the dead-letter stream, waiting for an operator."""

    model_config = _OUT

    #: Its sequence in the dead-letter stream (pass as ``after`` to list what came later).
    sequence: int
    #: Who parked it: ``ingress`` (an authentic payload it could not parse), ``orchestrator`` (an inbound
    #: update that failed all its retries) or ``commands`` (a timer command, likewise).
    source: str
    reason: str
    parked_at: datetime | None
    #: The subject it was parked from (orchestrator and commands).
    original_subject: str | None
    bytes: int


class DeadLetterDetailOut(DeadLetterOut):
    #: The payload as text when it is UTF-8 (it usually is JSON), else null.
    payload_text: str | None
    payload_base64: str


class DeadLetterPage(BaseModel):
    model_config = _OUT

    items: list[DeadLetterOut]
    #: Pass as ``after`` for the next page; null when there is nothing more.
    next_after: int | None
