"""Lead steps shared by the customer, technician and timer flows: submit, match and offer, cancel, and the
timer decisions (expire a draft, time out an offer, follow up a job, close an unrated lead)."""

from __future__ import annotations

from contracts.commands import CloseUnratedLead, ExpireConversation, FollowUpJob, TimeoutOffer
from contracts.intent import Service
from contracts.lead_events import (
    ConversationState,
    ConversationTrigger,
    LeadCancelled,
    LeadClosed,
    LeadExpired,
    LeadStatus,
    LeadSubmitted,
    LeadUnmatched,
    MatchingAttempted,
    OfferExpired,
    ProviderOffered,
    RatingRequested,
    RatingRequestReason,
)
from orchestrator.domain import customer_replies, technician_replies
from orchestrator.domain.decision import Decision
from orchestrator.domain.matching import RANKING_KEYS, match


def submit(d: Decision) -> None:
    """The customer confirmed (and consented): submit the lead, then look for a technician."""
    lead = d.lead
    d.emit(LeadSubmitted(lead_id=lead.lead_id, fields=lead.fields, consent=True, submitted_at=d.now))
    d.change_conversation(ConversationTrigger.LEAD_SUBMITTED)
    offer_next(d, tell_customer_searching=True)


def offer_next(d: Decision, *, tell_customer_searching: bool = False) -> None:
    """Offer the (submitted) lead to the best eligible technician, or tell the customer there is none."""
    lead = d.lead
    fields = lead.fields
    if fields.service is None or fields.comuna is None:  # a submitted lead always has both
        raise ValueError(f"lead {lead.lead_id} submitted without service or comuna")
    service: Service = fields.service
    result = match(d.providers.values(), service=service, comuna=fields.comuna, passed_by=lead.passed_by)
    attempt = lead.match_attempts + 1
    d.emit(
        MatchingAttempted(
            lead_id=lead.lead_id,
            attempt=attempt,
            service=service,
            comuna=fields.comuna,
            ranking_keys=RANKING_KEYS,
            candidates=result.candidates,
            outside_coverage=result.outside_coverage,
            chosen_provider_id=result.chosen.provider_id if result.chosen else None,
            reason=result.reason,
            attempted_at=d.now,
        )
    )
    if result.chosen is None:
        d.emit(LeadUnmatched(lead_id=lead.lead_id, reason=result.reason, unmatched_at=d.now))
        d.change_conversation_if_allowed(ConversationTrigger.NO_TECHNICIAN_AVAILABLE)
        d.reply_customer(customer_replies.unmatched(fields))
        return
    chosen = result.chosen
    d.emit(ProviderOffered(lead_id=lead.lead_id, provider_id=chosen.provider_id, attempt=attempt, offered_at=d.now))
    if tell_customer_searching:
        d.reply_customer(customer_replies.searching())
    d.reply_technician(chosen.provider_id, chosen.phone, technician_replies.offer(lead.lead_id, fields, chosen.name))


def cancel(d: Decision) -> None:
    """Cancel the open lead now (already confirmed if it was active) and tell whoever is involved."""
    lead = d.lead
    involved = lead.assigned_to or lead.offered_to
    d.emit(LeadCancelled(lead_id=lead.lead_id, previous_status=lead.status, provider_id=involved, cancelled_at=d.now))
    d.change_conversation(ConversationTrigger.LEAD_CANCELLED)
    d.reply_customer(customer_replies.cancelled())
    if involved is not None:
        d.tell_technician(involved, technician_replies.lead_cancelled(lead.fields))


def _current(d: Decision, lead_id: str) -> bool:
    return d.state.lead is not None and d.state.lead.lead_id == lead_id


def expire_conversation(d: Decision, command: ExpireConversation) -> None:
    if not _current(d, command.lead_id) or d.lead.status is not LeadStatus.DRAFT:
        return
    if d.state.handed_over:
        return  # a person is talking with the customer: the draft is not abandoned
    seen = command.customer_messages_seen
    if seen is not None and d.state.customer_messages > seen:
        return  # the customer wrote after the closer looked: the draft is alive (the closer re-arms its timer)
    d.emit(LeadExpired(lead_id=command.lead_id, previous_status=d.lead.status, expired_at=d.now))
    d.change_conversation(ConversationTrigger.LEAD_EXPIRED)
    d.reply_customer(customer_replies.expired())


def timeout_offer(d: Decision, command: TimeoutOffer) -> None:
    if not _current(d, command.lead_id):
        return
    lead = d.lead
    if lead.status is not LeadStatus.OFFERED or lead.offered_to != command.provider_id:
        return
    d.emit(OfferExpired(lead_id=lead.lead_id, provider_id=command.provider_id, expired_at=d.now))
    d.tell_technician(command.provider_id, technician_replies.offer_expired(lead.fields))
    offer_next(d)


def follow_up_job(d: Decision, command: FollowUpJob) -> None:
    if not _current(d, command.lead_id) or d.lead.status is not LeadStatus.ASSIGNED:
        return
    if d.state.conversation is not ConversationState.JOB_IN_PROGRESS:
        return  # e.g. the customer is deciding whether to cancel: do not talk over that question
    d.emit(RatingRequested(lead_id=command.lead_id, reason=RatingRequestReason.FOLLOW_UP, requested_at=d.now))
    d.change_conversation(ConversationTrigger.FOLLOW_UP_DUE)
    d.reply_customer(customer_replies.follow_up(d.lead.provider_name or "el técnico"))


def close_unrated_lead(d: Decision, command: CloseUnratedLead) -> None:
    if not _current(d, command.lead_id) or d.state.conversation is not ConversationState.AWAITING_RATING:
        return
    lead = d.lead
    d.emit(
        LeadClosed(
            lead_id=lead.lead_id,
            previous_status=lead.status,
            provider_id=lead.assigned_to,
            reason="no rating within the rating window",
            closed_at=d.now,
        )
    )
    d.change_conversation(ConversationTrigger.RATING_WINDOW_CLOSED)
    d.reply_customer(customer_replies.closed_unrated())
