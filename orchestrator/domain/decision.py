"""The working memory of one decision: events emitted so far, folded as they go.

Every emitted event is folded immediately (``evolve``'s changes), so later steps of the same decision see
the state it produces and a decision can never emit a transition the tables refuse (it would raise here).
Only ``version`` is counted once at the end (:meth:`Decision.folded`): no decision reads it, and most
events change nothing else, so they cost no copy of the state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from contracts.events import Event
from contracts.lead_events import ConversationStateChanged, ConversationTrigger
from contracts.outbound import RecipientRole, ReplyQueued
from orchestrator.domain.evolve import changes_of
from orchestrator.domain.model import CustomerState, Lead
from orchestrator.domain.presentation import Reply
from orchestrator.domain.providers import ProviderView
from orchestrator.domain.states import can_change_conversation, next_conversation_state


@dataclass
class Decision:
    #: The state the events emitted so far lead to, but for ``version`` (still the version decided on).
    state: CustomerState
    now: datetime
    new_id: Callable[[], UUID]
    #: The inbound wamid or command id every reply of this decision answers.
    cause: str
    providers: Mapping[str, ProviderView]
    events: list[Event] = field(default_factory=list)

    def emit(self, event: Event) -> None:
        changes = changes_of(self.state, event)
        if changes:
            self.state = replace(self.state, **changes)
        self.events.append(event)

    def folded(self) -> CustomerState:
        """The state after the decision: ``fold(events, state decided on)``."""
        if not self.events:
            return self.state
        return replace(self.state, version=self.state.version + len(self.events))

    @property
    def lead(self) -> Lead:
        """The current lead (callers only ask once they know there is one)."""
        lead = self.state.lead
        if lead is None:
            raise LookupError("no lead in this state")
        return lead

    def change_conversation(self, trigger: ConversationTrigger) -> None:
        before = self.state.conversation
        after = next_conversation_state(before, trigger, resume_at=self.state.resume_at)
        self.emit(ConversationStateChanged(from_state=before, to_state=after, trigger=trigger))

    def change_conversation_if_allowed(self, trigger: ConversationTrigger) -> None:
        """For lead outcomes that move the conversation from some states only (e.g. a technician accepting
        while the customer is deciding whether to cancel leaves the conversation where it is). While handed
        over, they move the state the conversation resumes at."""
        if can_change_conversation(self.state.conversation, trigger, resume_at=self.state.resume_at):
            self.change_conversation(trigger)

    def reply_customer(self, reply: Reply, *, phone_if_unknown: str | None = None) -> None:
        phone = self.state.phone or phone_if_unknown
        if phone is None:
            raise LookupError("the customer's phone is unknown: no message was received yet")
        lead_id = self.state.lead.lead_id if self.state.lead is not None else None
        self.emit(
            ReplyQueued(
                reply_id=self.new_id(),
                to=phone,
                recipient=RecipientRole.CUSTOMER,
                lead_id=lead_id,
                purpose=reply.purpose,
                message=reply.message,
                in_reply_to=self.cause,
            )
        )

    def reply_technician(self, provider_id: str, phone: str, reply: Reply) -> None:
        lead_id = self.state.lead.lead_id if self.state.lead is not None else None
        self.emit(
            ReplyQueued(
                reply_id=self.new_id(),
                to=phone,
                recipient=RecipientRole.TECHNICIAN,
                provider_id=provider_id,
                lead_id=lead_id,
                purpose=reply.purpose,
                message=reply.message,
                in_reply_to=self.cause,
            )
        )

    def provider_phone(self, provider_id: str) -> str | None:
        view = self.providers.get(provider_id)
        if view is not None:
            return view.phone
        lead = self.state.lead
        if lead is not None and lead.assigned_to == provider_id:
            return lead.provider_phone
        return None

    def tell_technician(self, provider_id: str, reply: Reply) -> None:
        """Message a technician by id (skipped if we no longer know their number)."""
        phone = self.provider_phone(provider_id)
        if phone is not None:
            self.reply_technician(provider_id, phone, reply)
