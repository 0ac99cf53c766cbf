"""A technician's message about a lead: accept, decline, done, or anything else.

The message is decided on the customer's stream of the lead (lead ids name it). An action on a lead the
technician was not offered, or that moved on, changes nothing: the technician is told politely.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from contracts.commands import HandleTechnicianMessage
from contracts.events import Event
from contracts.lead_events import (
    CompletionReporter,
    ConversationTrigger,
    JobCompleted,
    LeadAssigned,
    LeadStatus,
    MessageReceived,
    OfferAccepted,
    OfferDeclined,
    RatingRequested,
    RatingRequestReason,
    SenderRole,
)
from contracts.provider_events import ProviderErasureRequested
from orchestrator.domain import customer_replies, technician_replies
from orchestrator.domain.buttons import TechnicianAction, TechnicianActionKind, parse_technician_action
from orchestrator.domain.decision import Decision
from orchestrator.domain.ids import is_lead_id
from orchestrator.domain.lead_lifecycle import offer_next
from orchestrator.domain.model import CustomerState, Lead
from orchestrator.domain.providers import ProviderView


def _offered_to(lead: Lead, provider_id: str) -> bool:
    return lead.status is LeadStatus.OFFERED and lead.offered_to == provider_id


def _assigned_to(lead: Lead, provider_id: str) -> bool:
    return lead.status is LeadStatus.ASSIGNED and lead.assigned_to == provider_id


def _offer_still_open(d: Decision, command: HandleTechnicianMessage, lead: Lead) -> bool:
    """Whether this technician can still accept or decline ``lead``; if not, tell them why."""
    pid = command.provider_id
    if _assigned_to(lead, pid):
        d.reply_technician(pid, command.phone, technician_replies.already_yours(lead.lead_id))
        return False
    if not _offered_to(lead, pid):
        d.reply_technician(pid, command.phone, technician_replies.offer_unavailable())
        return False
    return True


def _accept(d: Decision, command: HandleTechnicianMessage, lead: Lead) -> None:
    pid = command.provider_id
    if not _offer_still_open(d, command, lead):
        return
    view = d.providers.get(pid)
    name = view.name if view is not None else "Tu técnico"
    phone = view.phone if view is not None else command.phone
    d.emit(OfferAccepted(lead_id=lead.lead_id, provider_id=pid, wamid=command.wamid, accepted_at=d.now))
    d.emit(
        LeadAssigned(lead_id=lead.lead_id, provider_id=pid, provider_name=name, provider_phone=phone, assigned_at=d.now)
    )
    d.change_conversation_if_allowed(ConversationTrigger.TECHNICIAN_ASSIGNED)
    d.reply_customer(customer_replies.technician_assigned(name, phone))
    customer_phone = d.state.phone
    if lead.consent and customer_phone is not None:  # contact details travel only with the customer's consent
        assignment = technician_replies.assignment(lead.lead_id, lead.fields, d.state.profile_name, customer_phone)
        d.reply_technician(pid, phone, assignment)


def _decline(d: Decision, command: HandleTechnicianMessage, lead: Lead) -> None:
    pid = command.provider_id
    if not _offer_still_open(d, command, lead):
        return
    d.emit(OfferDeclined(lead_id=lead.lead_id, provider_id=pid, wamid=command.wamid, declined_at=d.now))
    d.reply_technician(pid, command.phone, technician_replies.declined())
    offer_next(d)


def _done(d: Decision, command: HandleTechnicianMessage, lead: Lead) -> None:
    pid = command.provider_id
    if lead.assigned_to == pid and lead.status in (LeadStatus.COMPLETED, LeadStatus.RATED):
        d.reply_technician(pid, command.phone, technician_replies.done_thanks())  # a second tap: already recorded
        return
    if not _assigned_to(lead, pid):
        d.reply_technician(pid, command.phone, technician_replies.no_active_job())
        return
    d.emit(
        JobCompleted(
            lead_id=lead.lead_id, provider_id=pid, reported_by=CompletionReporter.TECHNICIAN, completed_at=d.now
        )
    )
    if not lead.rating_requested:  # a follow-up may already have asked for the rating
        d.emit(RatingRequested(lead_id=lead.lead_id, reason=RatingRequestReason.JOB_COMPLETED, requested_at=d.now))
        d.change_conversation_if_allowed(ConversationTrigger.JOB_COMPLETED)
        d.reply_customer(customer_replies.job_completed(lead.provider_name or "El técnico"))
    d.reply_technician(pid, command.phone, technician_replies.done_thanks())


def _other(d: Decision, command: HandleTechnicianMessage, lead: Lead) -> None:
    pid = command.provider_id
    view = d.providers.get(pid)
    if _offered_to(lead, pid):
        offer = technician_replies.offer(lead.lead_id, lead.fields, view.name if view else "técnico")
        d.reply_technician(pid, command.phone, offer)
    elif _assigned_to(lead, pid):
        d.reply_technician(pid, command.phone, technician_replies.remind_done(lead.lead_id))
    else:
        d.reply_technician(pid, command.phone, technician_replies.nothing_pending(view.name if view else "técnico"))


_BY_ACTION: dict[TechnicianActionKind, Callable[[Decision, HandleTechnicianMessage, Lead], None]] = {
    TechnicianActionKind.ACCEPT: _accept,
    TechnicianActionKind.DECLINE: _decline,
    TechnicianActionKind.DONE: _done,
    TechnicianActionKind.OTHER: _other,
}


def _received(command: HandleTechnicianMessage) -> MessageReceived:
    u = command.understanding
    return MessageReceived(
        wamid=command.wamid,
        role=SenderRole.TECHNICIAN,
        phone=command.phone,
        provider_id=command.provider_id,
        message_type=command.message_type,
        text=u.text,
        reply_id=u.reply_id,
        received_at=command.received_at,
        text_truncated_from=command.text_truncated_from,
    )


def decide_technician_message(d: Decision, command: HandleTechnicianMessage) -> None:
    d.emit(_received(command))
    action = parse_technician_action(command.understanding.reply_id, command.understanding.text)
    lead_id = action.lead_id or command.lead_id
    lead = d.state.lead
    if lead is None or lead.lead_id != lead_id:
        d.reply_technician(command.provider_id, command.phone, technician_replies.offer_unavailable())
        return
    _BY_ACTION[action.kind](d, command, lead)


# ------------------------------------------------------------------ routing (for the handler) and strays


def resolve_lead_for(view: ProviderView, action: TechnicianAction) -> str | None:
    """Which lead a technician's message is about: the button's lead, else the only one it can mean."""
    if action.lead_id is not None:
        # A forged or truncated id names no stream: treat it as naming no lead.
        return action.lead_id if is_lead_id(action.lead_id) else None
    offers, jobs = view.pending_offers, view.active_leads
    candidates: tuple[str, ...]
    if action.kind in (TechnicianActionKind.ACCEPT, TechnicianActionKind.DECLINE):
        candidates = offers
    elif action.kind is TechnicianActionKind.DONE:
        candidates = jobs
    else:
        candidates = offers + jobs
    return candidates[0] if len(candidates) == 1 else None


def route_technician_message(
    view: ProviderView, reply_id: str | None, text: str | None, *, asks_for_erasure: bool = False
) -> str | None:
    """The lead id a technician's message should be decided on, or None (see ``decide_unrouted_...``). A
    request to erase their data concerns no lead: it goes to their own stream."""
    if asks_for_erasure and reply_id is None:
        return None
    return resolve_lead_for(view, parse_technician_action(reply_id, text))


def decide_unrouted_technician_message(
    command: HandleTechnicianMessage,
    *,
    provider: ProviderView,
    now: datetime,
    new_ids: Callable[[], UUID],
) -> list[Event]:
    """A technician's message that names no lead we can tell (for the technician's own stream)."""
    d = Decision(CustomerState(), now, new_ids, command.wamid, {provider.provider_id: provider})
    d.emit(_received(command))
    if command.understanding.asks_for_erasure:
        # Recorded without personal data, for an admin (``privacy requests``); nothing is erased on it.
        jobs = len(provider.pending_offers) + len(provider.active_leads)
        d.emit(ProviderErasureRequested(provider_id=provider.provider_id, jobs_in_progress=jobs, requested_at=now))
        d.reply_technician(
            provider.provider_id, command.phone, technician_replies.erasure_by_admin(provider.name, jobs)
        )
        return d.events
    if provider.pending_offers or provider.active_leads:
        reply = technician_replies.several_open(provider.name)
    else:
        reply = technician_replies.nothing_pending(provider.name)
    d.reply_technician(provider.provider_id, command.phone, reply)
    return d.events
