"""The state of one customer's stream: the conversation and its current (or last) lead. Frozen."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypeVar
from uuid import UUID

from contracts.lead_events import ConversationState, LeadFields, LeadStatus
from orchestrator.domain.states import ACTIVE_LEAD_STATUSES, TERMINAL_LEAD_STATUSES

#: The order in which missing fields are asked for.
FIELD_ORDER: tuple[str, ...] = ("service", "comuna", "problem", "urgency", "address")

_Frozen = TypeVar("_Frozen")


class PendingQuestion(StrEnum):
    """What the last reply asked the customer (derived from the state, never stored separately).

    The handler passes it to the understanding rules as ``expecting``.
    """

    NONE = "none"
    SERVICE = "service"
    COMUNA = "comuna"
    PROBLEM = "problem"
    URGENCY = "urgency"
    ADDRESS = "address"
    CORRECTION = "correction"
    CONFIRMATION = "confirmation"
    CANCEL_CONFIRMATION = "cancel_confirmation"
    ERASURE_CONFIRMATION = "erasure_confirmation"
    RATING = "rating"


#: What to pass the understanding rules as ``expecting`` (their vocabulary) for each pending question.
EXPECTING_OF_PENDING: dict[PendingQuestion, str | None] = {
    PendingQuestion.NONE: None,
    PendingQuestion.SERVICE: "service",
    PendingQuestion.COMUNA: "comuna",
    PendingQuestion.PROBLEM: "problem",
    PendingQuestion.URGENCY: "urgency",
    PendingQuestion.ADDRESS: "address",
    PendingQuestion.CORRECTION: None,  # any field may come: nothing is favoured
    PendingQuestion.CONFIRMATION: "confirmation",
    PendingQuestion.CANCEL_CONFIRMATION: "consent",  # "¿Seguro que quieres cancelar?" is a yes / no
    PendingQuestion.ERASURE_CONFIRMATION: "consent",  # "¿Borramos tus datos?" too
    PendingQuestion.RATING: "rating",
}


@dataclass(frozen=True, slots=True)
class Lead:
    lead_id: str
    status: LeadStatus
    drafted_at: datetime
    fields: LeadFields = field(default_factory=LeadFields)
    consent: bool = False
    submitted_at: datetime | None = None
    match_attempts: int = 0
    offered_to: str | None = None
    offered_at: datetime | None = None
    #: Technicians who declined this lead or let the offer expire: never offered it again.
    passed_by: tuple[str, ...] = ()
    assigned_to: str | None = None
    provider_name: str | None = None
    provider_phone: str | None = None
    assigned_at: datetime | None = None
    completed_at: datetime | None = None
    rating_requested: bool = False
    rating: int | None = None
    ended_at: datetime | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_LEAD_STATUSES

    @property
    def is_active(self) -> bool:
        """Submitted and not finished (cancelling asks for confirmation)."""
        return self.status in ACTIVE_LEAD_STATUSES

    @property
    def missing_fields(self) -> tuple[str, ...]:
        return tuple(name for name in FIELD_ORDER if getattr(self.fields, name) is None)


@dataclass(frozen=True, slots=True)
class CustomerState:
    customer_key: str | None = None
    #: The customer's WhatsApp id; replies go there.
    phone: str | None = None
    profile_name: str | None = None
    conversation: ConversationState = ConversationState.IDLE
    #: The current lead, or the last one once it ended (so "estado" can still answer).
    lead: Lead | None = None
    #: How many leads this customer has started: the next lead id is ``<customer_key>.<leads_started + 1>``.
    leads_started: int = 0
    #: How many messages the customer has sent (a timer command says how many it had seen).
    customer_messages: int = 0
    #: When the customer was last asked to write a message again because it could not be handled.
    last_apology_at: datetime | None = None
    #: When the customer's last message was received: WhatsApp's 24-hour customer service window opens there.
    last_customer_message_at: datetime | None = None
    #: Messages in a row the bot could not use (reset by every other customer message).
    not_understood_in_a_row: int = 0
    #: While set aside (handed over, or confirming an erasure): the state the conversation resumes at when
    #: handed back or when the erasure is withdrawn (it follows the lead).
    resume_at: ConversationState | None = None
    #: While handed over: the operator who took the conversation, if one has.
    taken_by: str | None = None
    #: Once the customer confirmed erasure: the goodbye reply, after whose send the closer forgets them.
    erasure_goodbye: UUID | None = None
    #: How many events have been folded (the stream version the state reflects).
    version: int = 0

    @property
    def open_lead(self) -> Lead | None:
        """The lead that is not finished yet, if any."""
        return self.lead if self.lead is not None and not self.lead.is_terminal else None

    @property
    def handed_over(self) -> bool:
        return self.conversation is ConversationState.HANDED_OVER

    @property
    def captured_fields(self) -> LeadFields:
        lead = self.open_lead
        return lead.fields if lead is not None else LeadFields()

    @property
    def pending_question(self) -> PendingQuestion:
        match self.conversation:
            case ConversationState.COLLECTING:
                missing = self.open_lead.missing_fields if self.open_lead is not None else FIELD_ORDER
                return PendingQuestion(missing[0]) if missing else PendingQuestion.CORRECTION
            case ConversationState.CONFIRMING:
                return PendingQuestion.CONFIRMATION
            case ConversationState.CONFIRMING_CANCEL:
                return PendingQuestion.CANCEL_CONFIRMATION
            case ConversationState.CONFIRMING_ERASURE:
                return PendingQuestion.ERASURE_CONFIRMATION
            case ConversationState.AWAITING_RATING:
                return PendingQuestion.RATING
            case _:
                return PendingQuestion.NONE

    @property
    def expecting(self) -> str | None:
        """The pending question in the understanding rules' terms (``understand_text(text, expecting)``)."""
        return EXPECTING_OF_PENDING[self.pending_question]


INITIAL_STATE = CustomerState()

