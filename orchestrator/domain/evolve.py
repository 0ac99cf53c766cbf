"""``evolve``: fold one event into a customer's state, through the transition tables.

A change the tables do not list raises :class:`IllegalTransition`. Events that change nothing here
(``IntentExtracted``, ``ReplyQueued``, the sender's delivery events, and any type this
aggregate does not know) only advance ``version``.

Each event's handler says what the event changes (:data:`Changes`); ``evolve`` builds the next state once,
with those changes and the next version (the state is rebuilt for every event folded: keep it to one copy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from contracts.events import Event
from contracts.lead_events import (
    ConversationState,
    ConversationStateChanged,
    ConversationTaken,
    ConversationTrigger,
    ErasureRequested,
    JobCompleted,
    LeadAssigned,
    LeadCancelled,
    LeadClosed,
    LeadDrafted,
    LeadExpired,
    LeadFieldsCaptured,
    LeadRated,
    LeadStatus,
    LeadSubmitted,
    LeadUnmatched,
    MatchingAttempted,
    MessageHandlingFailed,
    MessageNotUnderstood,
    MessageReceived,
    OfferAccepted,
    OfferDeclined,
    OfferExpired,
    ProviderOffered,
    RatingRequested,
    SenderRole,
)
from orchestrator.domain.model import CustomerState, Lead
from orchestrator.domain.states import (
    LEAD_START_STATUS,
    RESUMING,
    WHILE_ASIDE,
    IllegalTransition,
    LeadTrigger,
    next_conversation_state,
    next_lead_status,
)

#: The fields of the state an event changes, with their new values.
Changes = Mapping[str, Any]

_NO_CHANGES: Changes = MappingProxyType({})


def _lead(state: CustomerState, lead_id: str, what: str) -> Lead:
    lead = state.lead
    if lead is None or lead.lead_id != lead_id:
        current = lead.status if lead is not None else None
        raise IllegalTransition("lead", current, f"{what} for unknown lead {lead_id!r}")
    return lead


def _move(state: CustomerState, lead_id: str, trigger: LeadTrigger, **lead_changes: Any) -> Changes:
    lead = _lead(state, lead_id, trigger)
    status = next_lead_status(lead.status, trigger)
    return {"lead": replace(lead, status=status, **lead_changes)}


def _message_received(state: CustomerState, e: MessageReceived) -> Changes:
    if e.role is not SenderRole.CUSTOMER:
        return _NO_CHANGES
    return {
        "phone": e.phone,
        "profile_name": e.profile_name or state.profile_name,
        "customer_messages": state.customer_messages + 1,
        "last_customer_message_at": e.received_at,
        # A message the bot cannot use says so right after (MessageNotUnderstood) in the same decision.
        "not_understood_in_a_row": 0,
    }


def _not_understood(state: CustomerState, e: MessageNotUnderstood) -> Changes:
    return {"not_understood_in_a_row": e.in_a_row}


def _taken(state: CustomerState, e: ConversationTaken) -> Changes:
    if not state.handed_over:
        raise IllegalTransition("conversation", state.conversation, f"taken by {e.by!r}")
    return {"taken_by": e.by}


def _handling_failed(state: CustomerState, e: MessageHandlingFailed) -> Changes:
    return {"last_apology_at": e.failed_at} if e.apologised else _NO_CHANGES


def _conversation_changed(state: CustomerState, e: ConversationStateChanged) -> Changes:
    if e.from_state is not state.conversation:
        raise IllegalTransition("conversation", state.conversation, f"{e.trigger} (event says {e.from_state})")
    target = next_conversation_state(state.conversation, e.trigger, resume_at=state.resume_at)
    if target is not e.to_state:
        raise IllegalTransition("conversation", state.conversation, f"{e.trigger} to {e.to_state}")
    if e.trigger is ConversationTrigger.HANDED_OVER:
        return {"conversation": target, "resume_at": state.conversation, "taken_by": None}
    if e.trigger is ConversationTrigger.ERASURE_ASKED:
        return {"conversation": target, "resume_at": state.conversation}
    if e.trigger in RESUMING.values() or e.trigger is ConversationTrigger.ERASURE_CONFIRMED:
        return {"conversation": target, "resume_at": None, "taken_by": None}
    if state.conversation in WHILE_ASIDE and state.resume_at is not None:
        # The lead moved while the conversation is set aside (with a person, or on the erasure question):
        # so does the state it resumes at.
        return {"resume_at": next_conversation_state(state.resume_at, e.trigger)}
    return {"conversation": target}


def _erasure_requested(state: CustomerState, e: ErasureRequested) -> Changes:
    if state.conversation is not ConversationState.ERASED:
        raise IllegalTransition("conversation", state.conversation, "erasure requested")
    return {"erasure_goodbye": e.goodbye_reply_id}


def _drafted(state: CustomerState, e: LeadDrafted) -> Changes:
    if state.open_lead is not None:
        raise IllegalTransition("lead", state.open_lead.status, "drafted while another lead is open")
    lead = Lead(lead_id=e.lead_id, status=LEAD_START_STATUS, drafted_at=e.drafted_at)
    return {
        "customer_key": e.customer_key,
        "phone": state.phone or e.phone,
        "lead": lead,
        "leads_started": state.leads_started + 1,
    }


def _fields_captured(state: CustomerState, e: LeadFieldsCaptured) -> Changes:
    lead = _lead(state, e.lead_id, LeadTrigger.FIELDS_CAPTURED)
    return _move(state, e.lead_id, LeadTrigger.FIELDS_CAPTURED, fields=lead.fields.merged(e.fields))


def _submitted(state: CustomerState, e: LeadSubmitted) -> Changes:
    return _move(
        state, e.lead_id, LeadTrigger.SUBMITTED, fields=e.fields, consent=e.consent, submitted_at=e.submitted_at
    )


def _matching(state: CustomerState, e: MatchingAttempted) -> Changes:
    lead = _lead(state, e.lead_id, "matching")
    if lead.status is not LeadStatus.SUBMITTED:
        raise IllegalTransition("lead", lead.status, "matching attempted")
    return {"lead": replace(lead, match_attempts=e.attempt)}


def _offered(state: CustomerState, e: ProviderOffered) -> Changes:
    return _move(state, e.lead_id, LeadTrigger.OFFERED, offered_to=e.provider_id, offered_at=e.offered_at)


def _check_offered_to(state: CustomerState, lead_id: str, provider_id: str, what: str) -> Lead:
    lead = _lead(state, lead_id, what)
    if lead.offered_to != provider_id:
        raise IllegalTransition("lead", lead.status, f"{what} by {provider_id!r}, not the offered technician")
    return lead


def _declined(state: CustomerState, e: OfferDeclined | OfferExpired) -> Changes:
    trigger = LeadTrigger.OFFER_DECLINED if isinstance(e, OfferDeclined) else LeadTrigger.OFFER_EXPIRED
    lead = _check_offered_to(state, e.lead_id, e.provider_id, trigger)
    return _move(
        state, e.lead_id, trigger, offered_to=None, offered_at=None, passed_by=(*lead.passed_by, e.provider_id)
    )


def _accepted(state: CustomerState, e: OfferAccepted) -> Changes:
    lead = _check_offered_to(state, e.lead_id, e.provider_id, "accepted")
    if lead.status is not LeadStatus.OFFERED:
        raise IllegalTransition("lead", lead.status, "offer accepted")
    return _NO_CHANGES


def _assigned(state: CustomerState, e: LeadAssigned) -> Changes:
    _check_offered_to(state, e.lead_id, e.provider_id, LeadTrigger.ASSIGNED)
    return _move(
        state,
        e.lead_id,
        LeadTrigger.ASSIGNED,
        offered_to=None,
        assigned_to=e.provider_id,
        provider_name=e.provider_name,
        provider_phone=e.provider_phone,
        assigned_at=e.assigned_at,
    )


def _unmatched(state: CustomerState, e: LeadUnmatched) -> Changes:
    return _move(state, e.lead_id, LeadTrigger.UNMATCHED, ended_at=e.unmatched_at)


def _completed(state: CustomerState, e: JobCompleted) -> Changes:
    lead = _lead(state, e.lead_id, LeadTrigger.JOB_COMPLETED)
    if lead.assigned_to != e.provider_id:
        raise IllegalTransition("lead", lead.status, f"job completed by {e.provider_id!r}, not the assignee")
    return _move(state, e.lead_id, LeadTrigger.JOB_COMPLETED, completed_at=e.completed_at)


def _rating_requested(state: CustomerState, e: RatingRequested) -> Changes:
    lead = _lead(state, e.lead_id, "rating requested")
    if lead.status not in (LeadStatus.ASSIGNED, LeadStatus.COMPLETED):
        raise IllegalTransition("lead", lead.status, "rating requested")
    return {"lead": replace(lead, rating_requested=True)}


def _rated(state: CustomerState, e: LeadRated) -> Changes:
    return _move(state, e.lead_id, LeadTrigger.RATED, rating=e.rating, ended_at=e.rated_at)


def _cancelled(state: CustomerState, e: LeadCancelled) -> Changes:
    return _move(state, e.lead_id, LeadTrigger.CANCELLED, offered_to=None, ended_at=e.cancelled_at)


def _expired(state: CustomerState, e: LeadExpired) -> Changes:
    return _move(state, e.lead_id, LeadTrigger.EXPIRED, ended_at=e.expired_at)


def _closed(state: CustomerState, e: LeadClosed) -> Changes:
    return _move(state, e.lead_id, LeadTrigger.CLOSED, ended_at=e.closed_at)


#: Which lead transition each event type fires (the documentation and the tests read this).
LEAD_TRIGGER_OF_EVENT: Mapping[str, LeadTrigger] = MappingProxyType(
    {
        LeadFieldsCaptured.TYPE: LeadTrigger.FIELDS_CAPTURED,
        LeadSubmitted.TYPE: LeadTrigger.SUBMITTED,
        ProviderOffered.TYPE: LeadTrigger.OFFERED,
        OfferDeclined.TYPE: LeadTrigger.OFFER_DECLINED,
        OfferExpired.TYPE: LeadTrigger.OFFER_EXPIRED,
        LeadAssigned.TYPE: LeadTrigger.ASSIGNED,
        LeadUnmatched.TYPE: LeadTrigger.UNMATCHED,
        JobCompleted.TYPE: LeadTrigger.JOB_COMPLETED,
        LeadRated.TYPE: LeadTrigger.RATED,
        LeadCancelled.TYPE: LeadTrigger.CANCELLED,
        LeadExpired.TYPE: LeadTrigger.EXPIRED,
        LeadClosed.TYPE: LeadTrigger.CLOSED,
    }
)

_Handler = Callable[[CustomerState, Any], Changes]

_HANDLERS: dict[type[Event], _Handler] = {
    MessageReceived: _message_received,
    MessageHandlingFailed: _handling_failed,
    MessageNotUnderstood: _not_understood,
    ConversationTaken: _taken,
    ConversationStateChanged: _conversation_changed,
    ErasureRequested: _erasure_requested,
    LeadDrafted: _drafted,
    LeadFieldsCaptured: _fields_captured,
    LeadSubmitted: _submitted,
    MatchingAttempted: _matching,
    ProviderOffered: _offered,
    OfferDeclined: _declined,
    OfferExpired: _declined,
    OfferAccepted: _accepted,
    LeadAssigned: _assigned,
    LeadUnmatched: _unmatched,
    JobCompleted: _completed,
    RatingRequested: _rating_requested,
    LeadRated: _rated,
    LeadCancelled: _cancelled,
    LeadExpired: _expired,
    LeadClosed: _closed,
}


def changes_of(state: CustomerState, event: Event) -> Changes:
    """What ``event`` changes in ``state`` besides counting it in ``version`` (raises as ``evolve`` does)."""
    handler = _HANDLERS.get(type(event))
    return handler(state, event) if handler is not None else _NO_CHANGES


def evolve(state: CustomerState, event: Event) -> CustomerState:
    return replace(state, **changes_of(state, event), version=state.version + 1)


def fold(events: Iterable[Event], state: CustomerState | None = None) -> CustomerState:
    current = state if state is not None else CustomerState()
    for event in events:
        current = evolve(current, event)
    return current
