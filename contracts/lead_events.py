"""Events of a customer's stream (``customer-<customer_key>``): the conversation and its leads.

One stream per customer holds both, because a customer has at most one active lead and every decision about
that lead needs the conversation (and vice versa). Lead ids are ``<customer_key>.<n>``, so a technician's
``offer:accept:<lead_id>`` names the stream to load. The state enums live here because events carry them;
the transition tables that govern them live in ``orchestrator.domain.states``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.events import Event
from contracts.intent import Intent, Service, UnderstandingSource, Urgency
from contracts.llm import LlmTrace, OffFlowTopic


class ConversationState(StrEnum):
    IDLE = "idle"
    COLLECTING = "collecting"
    CONFIRMING = "confirming"
    WAITING_TECHNICIAN = "waiting_technician"
    CONFIRMING_CANCEL = "confirming_cancel"
    JOB_IN_PROGRESS = "job_in_progress"
    AWAITING_RATING = "awaiting_rating"
    CLOSED = "closed"
    #: A person answers the customer; the bot is silent until they hand the conversation back.
    HANDED_OVER = "handed_over"
    #: The customer asked to erase their data and is asked to confirm; "no" returns to where the flow was.
    CONFIRMING_ERASURE = "confirming_erasure"
    #: The customer confirmed: the goodbye is the last message; their data is forgotten once it is sent.
    ERASED = "erased"


class ConversationTrigger(StrEnum):
    LEAD_STARTED = "lead_started"
    ALL_FIELDS_CAPTURED = "all_fields_captured"
    CORRECTION_REQUESTED = "correction_requested"
    LEAD_SUBMITTED = "lead_submitted"
    CANCEL_REQUESTED = "cancel_requested"
    CANCEL_WITHDRAWN_WHILE_WAITING = "cancel_withdrawn_while_waiting"
    CANCEL_WITHDRAWN_DURING_JOB = "cancel_withdrawn_during_job"
    LEAD_CANCELLED = "lead_cancelled"
    LEAD_EXPIRED = "lead_expired"
    TECHNICIAN_ASSIGNED = "technician_assigned"
    NO_TECHNICIAN_AVAILABLE = "no_technician_available"
    JOB_COMPLETED = "job_completed"
    FOLLOW_UP_DUE = "follow_up_due"
    LEAD_RATED = "lead_rated"
    RATING_WINDOW_CLOSED = "rating_window_closed"
    HANDED_OVER = "handed_over"
    HANDED_BACK = "handed_back"
    ERASURE_ASKED = "erasure_asked"
    ERASURE_WITHDRAWN = "erasure_withdrawn"
    ERASURE_CONFIRMED = "erasure_confirmed"


class LeadStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    COMPLETED = "completed"
    RATED = "rated"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    UNMATCHED = "unmatched"


class SenderRole(StrEnum):
    CUSTOMER = "customer"
    TECHNICIAN = "technician"


class LeadFields(BaseModel):
    """What a customer tells us about the job. Partial while drafting; all set once submitted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: Service | None = None
    #: Always a canonical official comuna name.
    comuna: str | None = None
    problem: str | None = Field(default=None, min_length=1, max_length=500)
    urgency: Urgency | None = None
    address: str | None = Field(default=None, min_length=1, max_length=200)

    def merged(self, other: LeadFields) -> LeadFields:
        """These fields with every field ``other`` sets replacing ours."""
        return self.model_copy(update=other.model_dump(exclude_none=True))

    def missing(self) -> tuple[str, ...]:
        return tuple(name for name, value in self if value is None)

    @property
    def is_empty(self) -> bool:
        return all(value is None for _, value in self)


# ----------------------------------------------------------------------------------- inbound & NLU


class MessageReceived(Event):
    """A WhatsApp message, recorded as data (the stream is the conversation's transcript)."""

    TYPE = "MessageReceived"
    SCHEMA_VERSION = 1

    wamid: str = Field(min_length=1)
    role: SenderRole
    #: The sender's WhatsApp id (wa_id); replies go there.
    phone: str = Field(min_length=1)
    provider_id: str | None = None
    profile_name: str | None = None
    message_type: str = Field(min_length=1)
    text: str | None = None
    reply_id: str | None = None
    received_at: datetime
    #: How long ``text`` was before it was cut at WhatsApp's limit; absent when nothing was cut (and on
    #: events recorded before the cut was recorded here).
    text_truncated_from: int | None = Field(default=None, ge=0, exclude_if=lambda value: value is None)


class IntentExtracted(Event):
    """What the understanding step made of a message, who did it and at what cost (replay never re-asks)."""

    TYPE = "IntentExtracted"
    SCHEMA_VERSION = 1

    wamid: str = Field(min_length=1)
    source: UnderstandingSource
    raw_output: str | None = None
    intent: Intent
    #: False when confidence was below the threshold: the intent was recorded but nothing was assumed.
    accepted: bool
    model: str | None = None
    prompt_version: str | None = None
    latency_ms: float | None = Field(default=None, ge=0)
    tokens: int | None = Field(default=None, ge=0)
    #: The off-flow topic the message was read as, if any (rules or LLM; the audit re-decides with it).
    detour: OffFlowTopic | None = None
    #: The rules read the message as a request to erase the customer's data (absent when not).
    asks_for_erasure: bool = Field(default=False, exclude_if=lambda value: not value)
    #: The LLM's part, when it was asked: raw output, what counted, what was dropped and why, cost.
    llm: LlmTrace | None = None


class MessageHandlingFailed(Event):
    """A customer's message no decision could be made on, after its retries: parked for an operator."""

    TYPE = "MessageHandlingFailed"
    SCHEMA_VERSION = 1

    wamid: str = Field(min_length=1)
    reason: str
    failed_at: datetime
    #: Whether the customer was asked to write it again (at most once an hour).
    apologised: bool


class ConversationStateChanged(Event):
    TYPE = "ConversationStateChanged"
    SCHEMA_VERSION = 1

    from_state: ConversationState
    to_state: ConversationState
    trigger: ConversationTrigger


# ------------------------------------------------------------------------------------------- hand-over


class HandOverReason(StrEnum):
    ASKED_FOR_PERSON = "asked_for_person"
    #: The bot failed to understand the customer several times in a row.
    NOT_UNDERSTOOD = "not_understood"


class MessageNotUnderstood(Event):
    """The bot could not use a customer's message; ``in_a_row`` counts such messages without one it could."""

    TYPE = "MessageNotUnderstood"
    SCHEMA_VERSION = 1

    wamid: str = Field(min_length=1)
    in_a_row: int = Field(ge=1)


class ConversationHandedOver(Event):
    """The conversation goes to a person (followed by its ``ConversationStateChanged`` to ``handed_over``)."""

    TYPE = "ConversationHandedOver"
    SCHEMA_VERSION = 1

    reason: HandOverReason
    handed_over_at: datetime


class ConversationTaken(Event):
    """An operator took a handed-over conversation: they answer the customer from now on."""

    TYPE = "ConversationTaken"
    SCHEMA_VERSION = 1

    by: str = Field(min_length=1)
    taken_at: datetime


class HandBackAuthority(StrEnum):
    """Why an operator could hand a conversation back."""

    #: They took it (and hold it).
    HOLDER = "holder"
    #: An admin's override: someone else holds it, or nobody does.
    ADMIN = "admin"


class ConversationHandedBack(Event):
    """An operator gave the conversation back to the bot, which resumes where the flow was."""

    TYPE = "ConversationHandedBack"
    SCHEMA_VERSION = 1

    by: str = Field(min_length=1)
    handed_back_at: datetime
    #: Absent on hand-backs recorded while any agent could hand back any conversation.
    authority: HandBackAuthority | None = Field(default=None, exclude_if=lambda value: value is None)


# ------------------------------------------------------------------------------------- erasure request


class ErasureRefusal(StrEnum):
    #: A technician holds the offer or is on the way (``conectapro.erasure.JOB_IN_PROGRESS``).
    JOB_IN_PROGRESS = "job_in_progress"


class ErasureRefused(Event):
    """The customer asked on WhatsApp to erase their data and it cannot be done now (they are told why)."""

    TYPE = "ErasureRefused"
    SCHEMA_VERSION = 1

    reason: ErasureRefusal
    refused_at: datetime


class ErasureRequested(Event):
    """The customer confirmed on WhatsApp that their data be erased. The closer forgets them once the
    goodbye (``goodbye_reply_id``, the last message they get) is sent, or after a bounded wait; the outcome
    is a ``PersonForgotten`` on ``privacy-requests``. No personal data: it outlives the person's key."""

    TYPE = "ErasureRequested"
    SCHEMA_VERSION = 1

    goodbye_reply_id: UUID
    requested_at: datetime


# ------------------------------------------------------------------------------------------- lead


class LeadDrafted(Event):
    TYPE = "LeadDrafted"
    SCHEMA_VERSION = 1

    lead_id: str = Field(min_length=1)
    customer_key: str = Field(min_length=1)
    phone: str = Field(min_length=1)
    drafted_at: datetime


class LeadFieldsCaptured(Event):
    """Fields given or changed by the customer; only the ones set here changed."""

    TYPE = "LeadFieldsCaptured"
    SCHEMA_VERSION = 1

    lead_id: str = Field(min_length=1)
    fields: LeadFields
    captured_at: datetime


class LeadSubmitted(Event):
    """The customer confirmed the summary and consented to share it with a technician."""

    TYPE = "LeadSubmitted"
    SCHEMA_VERSION = 1

    lead_id: str = Field(min_length=1)
    fields: LeadFields
    consent: bool
    submitted_at: datetime


class CandidateConsidered(BaseModel):
    """One technician in the matching pool, its ranking keys and why it could not be chosen (if so)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider_id: str
    eligible: bool
    rejected_because: tuple[str, ...] = ()
    active_jobs: int
    capacity: int
    rating_key: float
    rating_count: int
    last_assigned_at: datetime | None
    rank: int | None = None


class MatchingAttempted(Event):
    """A deterministic matching decision, with every candidate considered and the reason for the choice."""

    TYPE = "MatchingAttempted"
    SCHEMA_VERSION = 1

    lead_id: str = Field(min_length=1)
    attempt: int = Field(ge=1)
    service: Service
    comuna: str
    ranking_keys: tuple[str, ...]
    candidates: tuple[CandidateConsidered, ...]
    #: Technicians known but outside the pool (other services or comunas): counted, not listed.
    outside_coverage: int = Field(ge=0)
    chosen_provider_id: str | None
    reason: str
    attempted_at: datetime


class ProviderOffered(Event):
    TYPE = "ProviderOffered"
    SCHEMA_VERSION = 1

    lead_id: str = Field(min_length=1)
    provider_id: str = Field(min_length=1)
    attempt: int = Field(ge=1)
    offered_at: datetime


class OfferDeclined(Event):
    TYPE = "OfferDeclined"
    SCHEMA_VERSION = 1

    lead_id: str = Field(min_length=1)
    provider_id: str = Field(min_length=1)
    wamid: str = Field(min_length=1)
    declined_at: datetime


class OfferExpired(Event):
    """The offered technician did not answer in time; the lead goes back to matching."""

    TYPE = "OfferExpired"
    SCHEMA_VERSION = 1

    lead_id: str = Field(min_length=1)
    provider_id: str = Field(min_length=1)
    expired_at: datetime


class OfferAccepted(Event):
    TYPE = "OfferAccepted"
    SCHEMA_VERSION = 1

    lead_id: str = Field(min_length=1)
    provider_id: str = Field(min_length=1)
    wamid: str = Field(min_length=1)
    accepted_at: datetime


class LeadAssigned(Event):
    TYPE = "LeadAssigned"
    SCHEMA_VERSION = 1

    lead_id: str = Field(min_length=1)
    provider_id: str = Field(min_length=1)
    provider_name: str
    provider_phone: str
    assigned_at: datetime


class LeadUnmatched(Event):
    TYPE = "LeadUnmatched"
    SCHEMA_VERSION = 1

    lead_id: str = Field(min_length=1)
    reason: str
    unmatched_at: datetime


class CompletionReporter(StrEnum):
    TECHNICIAN = "technician"
    CUSTOMER = "customer"


class JobCompleted(Event):
    TYPE = "JobCompleted"
    SCHEMA_VERSION = 1

    lead_id: str = Field(min_length=1)
    provider_id: str = Field(min_length=1)
    reported_by: CompletionReporter
    completed_at: datetime


class RatingRequestReason(StrEnum):
    JOB_COMPLETED = "job_completed"
    FOLLOW_UP = "follow_up"


class RatingRequested(Event):
    TYPE = "RatingRequested"
    SCHEMA_VERSION = 1

    lead_id: str = Field(min_length=1)
    reason: RatingRequestReason
    requested_at: datetime


class LeadRated(Event):
    TYPE = "LeadRated"
    SCHEMA_VERSION = 1

    lead_id: str = Field(min_length=1)
    provider_id: str = Field(min_length=1)
    rating: int = Field(ge=1, le=5)
    rated_at: datetime


class LeadCancelled(Event):
    TYPE = "LeadCancelled"
    SCHEMA_VERSION = 1

    lead_id: str = Field(min_length=1)
    previous_status: LeadStatus
    #: The technician offered or assigned at the time (they are told, and their load is freed).
    provider_id: str | None = None
    cancelled_at: datetime


class LeadExpired(Event):
    TYPE = "LeadExpired"
    SCHEMA_VERSION = 1

    lead_id: str = Field(min_length=1)
    previous_status: LeadStatus
    expired_at: datetime


class LeadClosed(Event):
    """Closed without a rating (the rating window passed)."""

    TYPE = "LeadClosed"
    SCHEMA_VERSION = 1

    lead_id: str = Field(min_length=1)
    previous_status: LeadStatus
    provider_id: str | None = None
    reason: str
    closed_at: datetime
