"""A customer asking on WhatsApp that their data be erased (the *supresión* of Chile's Law 21.719).

The bot says what will happen and asks to confirm with buttons; the conversation goes to
``confirming_erasure`` remembering where the flow was (``CustomerState.resume_at``). "No" returns there
with its pending question. "Sí, borrar" ends the conversation (``erased``): an open draft is cancelled, a
finished job waiting for its rating is closed, the goodbye is queued as the last message, and
``ErasureRequested`` names it. Nothing is erased here: the closer forgets the person (the same erasure as
``conectapro privacy forget``) once the goodbye's send is recorded, because the sender needs the phone to
send it. While a technician holds or was assigned the request, the erasure is refused (as the command line
refuses it) and a person is offered instead.
"""

from __future__ import annotations

from contracts.commands import DropErasureQuestion
from contracts.lead_events import (
    ConversationState,
    ConversationTrigger,
    ErasureRefusal,
    ErasureRefused,
    ErasureRequested,
    LeadCancelled,
    LeadClosed,
    LeadStatus,
)
from contracts.outbound import ReplyQueued
from orchestrator.domain import customer_replies
from orchestrator.domain.decision import Decision
from orchestrator.domain.states import can_change_conversation
from orchestrator.domain.status import repeat_pending

#: A technician holds the offer or is on the way: erasing now would strand the job.
JOB_IN_PROGRESS = frozenset({LeadStatus.OFFERED, LeadStatus.ASSIGNED})
#: Why a lead closes when its customer has their data erased (``LeadClosed.reason``).
CLOSED_FOR_ERASURE = "the customer asked for their data to be erased"


def job_in_progress(d: Decision) -> bool:
    lead = d.state.open_lead
    return lead is not None and lead.status in JOB_IN_PROGRESS


def ask(d: Decision) -> None:
    """The customer asked for their data to be erased: ask them to confirm, or say why not now."""
    state = d.state
    if job_in_progress(d) or not can_change_conversation(state.conversation, ConversationTrigger.ERASURE_ASKED):
        d.emit(ErasureRefused(reason=ErasureRefusal.JOB_IN_PROGRESS, refused_at=d.now))
        d.reply_customer(customer_replies.erasure_refused())
        return
    d.change_conversation(ConversationTrigger.ERASURE_ASKED)
    d.reply_customer(customer_replies.ask_erasure_confirmation())


def withdraw(d: Decision, *, tell: bool = True) -> None:
    """Back to where the flow was (with its pending question, when ``tell``)."""
    d.change_conversation(ConversationTrigger.ERASURE_WITHDRAWN)
    if tell:
        d.reply_customer(repeat_pending(d.state, customer_replies.erasure_withdrawn()))


def question_unanswered(d: Decision, command: DropErasureQuestion) -> None:
    """The question was left unanswered (a closer timer): back to where the flow was, without a word (past
    WhatsApp's customer service window a free-form message would not go out). Nothing if the customer
    wrote since, or is no longer asked."""
    state = d.state
    if state.conversation is not ConversationState.CONFIRMING_ERASURE:
        return
    if state.customer_messages != command.customer_messages_seen:
        return
    withdraw(d, tell=False)


def confirm(d: Decision) -> None:
    """End the conversation, close what is open, and queue the goodbye: the last message they get."""
    lead = d.state.open_lead
    d.change_conversation(ConversationTrigger.ERASURE_CONFIRMED)
    if lead is not None and lead.status is LeadStatus.DRAFT:
        d.emit(LeadCancelled(lead_id=lead.lead_id, previous_status=lead.status, cancelled_at=d.now))
    elif lead is not None and lead.status is LeadStatus.COMPLETED:
        d.emit(LeadClosed(lead_id=lead.lead_id, previous_status=lead.status, provider_id=lead.assigned_to,
                          reason=CLOSED_FOR_ERASURE, closed_at=d.now))  # fmt: skip
    d.reply_customer(customer_replies.erasure_goodbye())
    goodbye = d.events[-1]
    assert isinstance(goodbye, ReplyQueued)
    d.emit(ErasureRequested(goodbye_reply_id=goodbye.reply_id, requested_at=d.now))


def erased(d: Decision) -> bool:
    """The customer confirmed erasure: nothing more is sent to them."""
    return d.state.conversation is ConversationState.ERASED
