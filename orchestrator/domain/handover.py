"""Handing a conversation to a person, and back to the bot.

A customer who asks for a person, or whose messages the bot could not use ``NOT_UNDERSTOOD_LIMIT`` times in
a row, is told a person will answer, and the conversation goes to ``handed_over`` remembering the state it
was in (``CustomerState.resume_at``). While handed over the bot records the customer's messages and stays
silent. An operator takes the conversation, writes to the customer (a ``ReplyQueued`` naming them, sent like
every reply) only inside WhatsApp's customer service window, and hands it back (they, or an admin): the flow
resumes where it was, with its pending question.

An operator's action the state does not allow raises :class:`ConversationActionRejected` with the reason;
nothing is recorded for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from contracts.commands import HandBackConversation, TakeConversation, WriteToCustomer
from contracts.lead_events import (
    ConversationHandedBack,
    ConversationHandedOver,
    ConversationState,
    ConversationTaken,
    HandBackAuthority,
    HandOverReason,
)
from contracts.lead_events import ConversationTrigger as CT
from contracts.llm import OffFlowTopic
from contracts.outbound import RecipientRole, ReplyQueued, TextMessage
from orchestrator.domain.decision import Decision
from orchestrator.domain.detour_texts import detour_text
from orchestrator.domain.model import CustomerState
from orchestrator.domain.presentation import Reply
from orchestrator.domain.status import repeat_pending

#: Messages in a row the bot could not use before a person takes over.
NOT_UNDERSTOOD_LIMIT = 3
#: WhatsApp's customer service window: free-form messages only this long after the customer's last one.
SERVICE_WINDOW = timedelta(hours=24)

NOT_UNDERSTOOD_HANDED_OVER = (
    "Disculpa, no logro entenderte. Te comunico con una persona del equipo de ConectaPro: te responderá por "
    "este mismo chat."
)
HANDED_BACK = "Te vuelve a atender el asistente automático de ConectaPro."
#: What a reply an operator wrote is for (``ReplyQueued.purpose``).
AGENT_MESSAGE = "agent_message"


class Refusal(StrEnum):
    NOT_HANDED_OVER = "not_handed_over"
    NOT_TAKEN = "not_taken"
    WINDOW_CLOSED = "window_closed"
    NOT_THEIRS_TO_HAND_BACK = "not_theirs_to_hand_back"


class ConversationActionRejected(ValueError):
    """An operator's action on a conversation that its state does not allow (``reason`` says why)."""

    def __init__(self, refusal: Refusal, reason: str) -> None:
        super().__init__(reason)
        self.refusal = refusal
        self.reason = reason


def window_closes_at(state: CustomerState) -> datetime | None:
    """When WhatsApp's customer service window closes (None: the customer never wrote)."""
    last = state.last_customer_message_at
    return last + SERVICE_WINDOW if last is not None else None


def window_open(state: CustomerState, now: datetime) -> bool:
    closes = window_closes_at(state)
    return closes is not None and now < closes


def hand_over(d: Decision, reason: HandOverReason) -> None:
    """Tell the customer a person will answer, and hand the conversation over (an erasure question pending
    is dropped first: the person takes over from where the flow was, and can help with it)."""
    if d.state.conversation is ConversationState.CONFIRMING_ERASURE:
        d.change_conversation(CT.ERASURE_WITHDRAWN)
    d.emit(ConversationHandedOver(reason=reason, handed_over_at=d.now))
    d.change_conversation(CT.HANDED_OVER)
    asked = detour_text(OffFlowTopic.ASKS_FOR_PERSON) or ""
    text = asked if reason is HandOverReason.ASKED_FOR_PERSON else NOT_UNDERSTOOD_HANDED_OVER
    d.reply_customer(Reply("handed_over", TextMessage(body=text)))


def _must_be_handed_over(state: CustomerState) -> None:
    if not state.handed_over:
        raise ConversationActionRejected(
            Refusal.NOT_HANDED_OVER, "the conversation is not handed over to a person (the bot is answering)"
        )


def take(d: Decision, c: TakeConversation) -> None:
    _must_be_handed_over(d.state)
    if d.state.taken_by != c.operator:  # taking it again changes nothing
        d.emit(ConversationTaken(by=c.operator, taken_at=d.now))


def write(d: Decision, c: WriteToCustomer) -> None:
    state = d.state
    _must_be_handed_over(state)
    if state.taken_by != c.operator:
        holder = f"it is taken by {state.taken_by}" if state.taken_by else "nobody has taken it"
        raise ConversationActionRejected(Refusal.NOT_TAKEN, f"take the conversation before writing ({holder})")
    closes = window_closes_at(state)
    if closes is None or d.now >= closes or state.phone is None:
        since = state.last_customer_message_at.isoformat() if state.last_customer_message_at else "never"
        raise ConversationActionRejected(
            Refusal.WINDOW_CLOSED,
            f"outside WhatsApp's 24-hour customer service window (the customer last wrote: {since}); "
            "the customer has to write first",
        )
    lead_id = state.lead.lead_id if state.lead is not None else None
    d.emit(
        ReplyQueued(
            reply_id=d.new_id(),
            to=state.phone,
            recipient=RecipientRole.CUSTOMER,
            lead_id=lead_id,
            purpose=AGENT_MESSAGE,
            message=TextMessage(body=c.text),
            in_reply_to=d.cause,
            written_by=c.operator,
        )
    )


def hand_back(d: Decision, c: HandBackConversation) -> None:
    _must_be_handed_over(d.state)
    d.emit(ConversationHandedBack(by=c.operator, handed_back_at=d.now, authority=_hand_back_authority(d.state, c)))
    d.change_conversation(CT.HANDED_BACK)
    # Outside the window WhatsApp would refuse it: the customer hears the pending question when they write.
    if window_open(d.state, d.now) and d.state.phone is not None:
        d.reply_customer(repeat_pending(d.state, HANDED_BACK))


def _hand_back_authority(state: CustomerState, c: HandBackConversation) -> HandBackAuthority | None:
    """As writing: the operator who took the conversation; or an admin, whoever holds it (a supervisor's
    override when its holder is away). None: re-deciding a hand-back recorded before this rule."""
    if c.recorded_when_anyone_could:
        return None
    if state.taken_by == c.operator:
        return HandBackAuthority.HOLDER
    if c.by_admin:
        return HandBackAuthority.ADMIN
    holder = f"it is taken by {state.taken_by}" if state.taken_by else "nobody has taken it"
    raise ConversationActionRejected(
        Refusal.NOT_THEIRS_TO_HAND_BACK,
        f"only the operator who took the conversation, or an admin, hands it back ({holder})",
    )
