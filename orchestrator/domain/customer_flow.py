"""A customer's message: record it and what was understood, then decide by conversation state.

Routing is an explicit table (``_BY_STATE``). Cross-cutting intents (cancel, status) are handled by each
state's function first, because what they mean depends on the state (cancelling a draft is immediate,
cancelling a submitted lead asks first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

from contracts.commands import HandleCustomerMessage
from contracts.comunas import lookup_comuna
from contracts.intent import Consent, Intent, IntentName, UnderstandingSource
from contracts.lead_events import (
    CompletionReporter,
    ConversationState,
    ConversationTrigger,
    HandOverReason,
    IntentExtracted,
    JobCompleted,
    LeadDrafted,
    LeadFields,
    LeadFieldsCaptured,
    LeadRated,
    LeadStatus,
    MessageNotUnderstood,
    MessageReceived,
    SenderRole,
)
from contracts.llm import OffFlowTopic
from orchestrator.domain import customer_replies, erasure, handover, technician_replies
from orchestrator.domain import lead_lifecycle as lifecycle
from orchestrator.domain.buttons import ConfirmChoice, parse_confirm, parse_rating, reply_kind
from orchestrator.domain.decision import Decision
from orchestrator.domain.detour_texts import detour_text
from orchestrator.domain.ids import lead_id_for
from orchestrator.domain.model import PendingQuestion
from orchestrator.domain.presentation import MAX_ADDRESS_CHARS, MAX_PROBLEM_CHARS, clip
from orchestrator.domain.status import repeat_pending, status_reply
from orchestrator.understanding.reply_ids import ReplyKind

#: A message this soon after a lead ended is an afterthought ("gracias"), not a new visit.
JUST_FINISHED = timedelta(hours=2)


@dataclass(frozen=True)
class Incoming:
    """One customer message as the decision sees it. ``intent`` is empty when confidence was too low."""

    intent: Intent
    #: The intent as understood, even below the confidence threshold (only used to reject free text).
    raw_intent: IntentName
    source: UnderstandingSource
    fields: LeadFields
    text: str | None
    confirm: ConfirmChoice | None
    customer_key: str
    reply_id: str | None
    raw_text: str | None
    detour: OffFlowTopic | None = None
    wamid: str = ""
    #: Messages in a row the bot could not use before this one.
    not_understood_before: int = 0
    #: The understanding read the typed text as a request to erase the customer's data.
    erasure_typed: bool = False

    @cached_property
    def rating(self) -> int | None:
        # Read only in the states that take a rating: parsing it costs a tokenization of every message.
        return parse_rating(self.reply_id, self.raw_text)

    @cached_property
    def tapped(self) -> ReplyKind | None:
        return reply_kind(self.reply_id)

    @property
    def asks_for_erasure(self) -> bool:
        """Typed "borra mis datos" (as the understanding recorded it), or a "Sí, borrar" tapped."""
        return self.erasure_typed or self.tapped is ReplyKind.ERASURE_YES

    @property
    def asks_for_person(self) -> bool:
        return self.detour is OffFlowTopic.ASKS_FOR_PERSON or self.tapped is ReplyKind.ASK_FOR_PERSON

    @property
    def wants_cancel(self) -> bool:
        return self.intent.intent is IntentName.CANCEL or self.confirm is ConfirmChoice.CANCEL

    @property
    def asks_status(self) -> bool:
        return self.intent.intent is IntentName.ASK_STATUS

    @property
    def says_yes(self) -> bool:
        return self.intent.consent is Consent.YES

    @property
    def says_no(self) -> bool:
        return self.intent.consent is Consent.NO


def _fields_of(intent: Intent) -> LeadFields:
    # The comuna must already be canonical; anything the allowlist does not know is dropped, never guessed.
    comuna = lookup_comuna(intent.comuna) if intent.comuna else None
    return LeadFields(
        service=intent.service,
        comuna=comuna,
        problem=_cleaned(intent.problem_type, MAX_PROBLEM_CHARS),
        urgency=intent.urgency,
        address=_cleaned(intent.address, MAX_ADDRESS_CHARS),
    )


def _cleaned(text: str | None, limit: int) -> str | None:
    return clip(text, limit) or None if text else None


def _incoming(command: HandleCustomerMessage, not_understood_before: int) -> Incoming:
    u = command.understanding
    intent = u.intent if u.intent.is_confident else Intent()  # below the threshold nothing is assumed
    return Incoming(
        intent=intent,
        raw_intent=u.intent.intent,
        source=u.source,
        fields=_fields_of(intent),
        text=u.text.strip() if u.text and u.text.strip() else None,
        confirm=parse_confirm(u.reply_id),
        customer_key=command.customer_key,
        reply_id=u.reply_id,
        raw_text=u.text,
        detour=u.detour,
        wamid=command.wamid,
        not_understood_before=not_understood_before,
        erasure_typed=u.asks_for_erasure,
    )


def _aside_prefix(d: Decision, m: Incoming) -> str:
    """The short polite answer before repeating the pending question."""
    detour = detour_text(m.detour)
    if detour is not None:
        return detour
    if m.intent.intent is IntentName.SMALLTALK:
        return customer_replies.SMALLTALK
    if m.intent.intent is IntentName.CREATE_LEAD:
        return ""  # "necesito un técnico": just ask what is missing
    if d.state.pending_question is PendingQuestion.COMUNA and m.text is not None:
        return customer_replies.COMUNA_NOT_RECOGNISED
    return customer_replies.NOT_UNDERSTOOD


_NOT_UNDERSTOOD_PREFIXES = frozenset({customer_replies.NOT_UNDERSTOOD, customer_replies.COMUNA_NOT_RECOGNISED})


def _aside(d: Decision, m: Incoming) -> None:
    prefix = _aside_prefix(d, m)
    if prefix in _NOT_UNDERSTOOD_PREFIXES:
        in_a_row = m.not_understood_before + 1
        d.emit(MessageNotUnderstood(wamid=m.wamid, in_a_row=in_a_row))
        if in_a_row >= handover.NOT_UNDERSTOOD_LIMIT:
            handover.hand_over(d, HandOverReason.NOT_UNDERSTOOD)
            return
    d.reply_customer(repeat_pending(d.state, prefix))


def _capture(d: Decision, fields: LeadFields) -> LeadFields:
    """Record the fields that differ from what we have; returns them (empty when nothing changed)."""
    current = d.lead.fields
    changes = LeadFields.model_validate(
        {name: value for name, value in fields if value is not None and getattr(current, name) != value}
    )
    if not changes.is_empty:
        d.emit(LeadFieldsCaptured(lead_id=d.lead.lead_id, fields=changes, captured_at=d.now))
    return changes


def _ask_next(d: Decision, prefix: str = "") -> None:
    if d.lead.missing_fields:
        question = customer_replies.question_for(d.state.pending_question, d.lead.fields, None)
        if question is not None:
            d.reply_customer(customer_replies.with_prefix(prefix, question))
        return
    d.change_conversation(ConversationTrigger.ALL_FIELDS_CAPTURED)
    d.reply_customer(customer_replies.summary(d.lead.fields, prefix))


def _free_text_answer(d: Decision, m: Incoming) -> LeadFields:
    """The problem description is an open question: the typed text itself is the answer.

    Used only when the understanding extracted no description and nothing new, and the text is not an
    aside (greeting, status, cancel); no field is inferred from it.
    """
    current = d.lead.fields
    if (
        d.state.pending_question is PendingQuestion.PROBLEM
        and m.fields.problem is None
        and all(value is None or getattr(current, name) == value for name, value in m.fields)
        and m.source is not UnderstandingSource.INTERACTIVE
        and m.text is not None
        and len(m.text) >= 4
        and m.raw_intent not in (IntentName.SMALLTALK, IntentName.ASK_STATUS, IntentName.CANCEL)
    ):
        return m.fields.merged(LeadFields(problem=_cleaned(m.text, MAX_PROBLEM_CHARS)))
    return m.fields


# ------------------------------------------------------------------------------------- by state


def _idle_or_closed(d: Decision, m: Incoming) -> None:
    returning = d.state.conversation is ConversationState.CLOSED
    if m.wants_cancel:
        d.reply_customer(customer_replies.nothing_to_cancel())
        return
    if m.asks_status:
        d.reply_customer(status_reply(d.state))
        return
    starts = m.intent.intent in (IntentName.CREATE_LEAD, IntentName.UPDATE_LEAD) or not m.fields.is_empty
    if not starts:
        ended_at = d.state.lead.ended_at if d.state.lead is not None else None
        just_finished = ended_at is not None and d.now - ended_at < JUST_FINISHED
        welcome = customer_replies.welcome(d.state.profile_name, returning=returning, just_finished=just_finished)
        d.reply_customer(customer_replies.with_prefix(detour_text(m.detour) or "", welcome))
        return
    lead_id = lead_id_for(m.customer_key, d.state.leads_started + 1)
    phone = d.state.phone or ""
    d.emit(LeadDrafted(lead_id=lead_id, customer_key=m.customer_key, phone=phone, drafted_at=d.now))
    d.change_conversation(ConversationTrigger.LEAD_STARTED)
    _capture(d, m.fields)
    # A tap on our own service button already followed a greeting: do not say hello twice.
    hello = (
        ""
        if m.source is UnderstandingSource.INTERACTIVE
        else customer_replies.greeting(d.state.profile_name, returning=returning)
    )
    _ask_next(d, customer_replies.started_prefix(d.lead.fields, hello).strip())


def _collecting(d: Decision, m: Incoming) -> None:
    if m.wants_cancel:
        lifecycle.cancel(d)  # a draft: nothing is active yet, no need to confirm
        return
    if m.asks_status:
        d.reply_customer(status_reply(d.state))
        return
    correcting = d.state.pending_question is PendingQuestion.CORRECTION
    changes = _capture(d, _free_text_answer(d, m))
    if changes.is_empty:
        if correcting and (m.confirm is ConfirmChoice.YES or m.says_yes):
            _ask_next(d)  # nothing to correct after all: back to the summary
        else:
            _aside(d, m)
        return
    _ask_next(d, customer_replies.CORRECTED if correcting else "")


def _confirming(d: Decision, m: Incoming) -> None:
    if m.wants_cancel:
        lifecycle.cancel(d)
        return
    if m.asks_status:
        d.reply_customer(status_reply(d.state))
        return
    if not m.fields.is_empty:
        changes = _capture(d, m.fields)
        prefix = customer_replies.CORRECTED if not changes.is_empty else ""
        d.reply_customer(customer_replies.summary(d.lead.fields, prefix))
        return
    if m.confirm is ConfirmChoice.YES or (m.confirm is None and m.says_yes):
        lifecycle.submit(d)
        return
    if m.confirm is ConfirmChoice.FIX or m.intent.intent is IntentName.UPDATE_LEAD:
        d.change_conversation(ConversationTrigger.CORRECTION_REQUESTED)
        d.reply_customer(customer_replies.ask_correction())
        return
    if m.says_no:
        d.reply_customer(customer_replies.consent_refused(d.lead.fields))
        return
    _aside(d, m)


def _update_submitted(d: Decision, m: Incoming) -> None:
    """A change after submission: details yes; service or comuna would need another technician."""
    lead = d.lead
    locked = any(
        getattr(m.fields, name) is not None and getattr(m.fields, name) != getattr(lead.fields, name)
        for name in ("service", "comuna")
    )
    if locked:
        d.reply_customer(customer_replies.locked_fields())
        return
    changes = _capture(d, m.fields)
    if changes.is_empty:
        d.reply_customer(status_reply(d.state))
        return
    told = None
    if lead.assigned_to is not None and lead.status is LeadStatus.ASSIGNED:
        d.tell_technician(lead.assigned_to, technician_replies.customer_update(d.lead.fields, changes))
        told = lead.provider_name
    d.reply_customer(customer_replies.fields_updated(changes, told_technician=told))


def _waiting_or_job(d: Decision, m: Incoming) -> None:
    if m.wants_cancel:
        d.change_conversation(ConversationTrigger.CANCEL_REQUESTED)
        d.reply_customer(customer_replies.ask_cancel_confirmation())
        return
    if not m.fields.is_empty and not m.asks_status:
        _update_submitted(d, m)
        return
    # Only a tapped row counts here: typed numbers this early are more likely an address or a time.
    if m.rating is not None and m.source is UnderstandingSource.INTERACTIVE:
        d.reply_customer(customer_replies.rating_not_expected(d.lead.provider_name))
        return
    prefix = detour_text(m.detour) or (customer_replies.SMALLTALK if m.intent.intent is IntentName.SMALLTALK else "")
    d.reply_customer(customer_replies.with_prefix(prefix, status_reply(d.state)))


def _confirming_cancel(d: Decision, m: Incoming) -> None:
    # A typed "sí" answers "¿Seguro que quieres cancelar?"; an old "Sí, confirmo" button means keep going.
    if m.wants_cancel or (m.confirm is None and m.says_yes):
        lifecycle.cancel(d)
        return
    if m.says_no or m.confirm is ConfirmChoice.YES:
        waiting = d.lead.status in (LeadStatus.SUBMITTED, LeadStatus.OFFERED)
        d.change_conversation(
            ConversationTrigger.CANCEL_WITHDRAWN_WHILE_WAITING
            if waiting
            else ConversationTrigger.CANCEL_WITHDRAWN_DURING_JOB
        )
        d.reply_customer(customer_replies.with_prefix(customer_replies.cancel_withdrawn(), status_reply(d.state)))
        return
    if m.asks_status:
        d.reply_customer(status_reply(d.state))
        return
    _aside(d, m)


def _awaiting_rating(d: Decision, m: Incoming) -> None:
    if m.rating is not None:
        lead = d.lead
        provider_id = lead.assigned_to or ""
        if lead.status is LeadStatus.ASSIGNED:  # asked at follow-up: the rating says the job was done
            d.emit(
                JobCompleted(
                    lead_id=lead.lead_id,
                    provider_id=provider_id,
                    reported_by=CompletionReporter.CUSTOMER,
                    completed_at=d.now,
                )
            )
        d.emit(LeadRated(lead_id=lead.lead_id, provider_id=provider_id, rating=m.rating, rated_at=d.now))
        d.change_conversation(ConversationTrigger.LEAD_RATED)
        d.reply_customer(customer_replies.thanks_for_rating())
        d.tell_technician(provider_id, technician_replies.rated(m.rating))
        return
    if m.wants_cancel:
        d.reply_customer(repeat_pending(d.state, customer_replies.cannot_cancel_completed()))
        return
    if m.asks_status:
        d.reply_customer(status_reply(d.state))
        return
    _aside(d, m)


def _confirming_erasure(d: Decision, m: Incoming) -> None:
    if m.asks_for_erasure or (m.reply_id is None and m.says_yes):
        erasure.confirm(d)
        return
    if m.tapped is ReplyKind.ERASURE_NO or (m.reply_id is None and m.says_no) or m.wants_cancel:
        erasure.withdraw(d)
        return
    if m.asks_status:
        d.reply_customer(repeat_pending(d.state, ""))
        return
    _aside(d, m)


_BY_STATE: dict[ConversationState, Callable[[Decision, Incoming], None]] = {
    ConversationState.IDLE: _idle_or_closed,
    ConversationState.CLOSED: _idle_or_closed,
    ConversationState.COLLECTING: _collecting,
    ConversationState.CONFIRMING: _confirming,
    ConversationState.WAITING_TECHNICIAN: _waiting_or_job,
    ConversationState.JOB_IN_PROGRESS: _waiting_or_job,
    ConversationState.CONFIRMING_CANCEL: _confirming_cancel,
    ConversationState.AWAITING_RATING: _awaiting_rating,
    ConversationState.CONFIRMING_ERASURE: _confirming_erasure,
}


def decide_customer_message(d: Decision, command: HandleCustomerMessage) -> None:
    u = command.understanding
    not_understood_before = d.state.not_understood_in_a_row
    d.emit(
        MessageReceived(
            wamid=command.wamid,
            role=SenderRole.CUSTOMER,
            phone=command.phone,
            profile_name=command.profile_name,
            message_type=command.message_type,
            text=u.text,
            reply_id=u.reply_id,
            received_at=command.received_at,
            text_truncated_from=command.text_truncated_from,
        )
    )
    d.emit(
        IntentExtracted(
            wamid=command.wamid,
            source=u.source,
            raw_output=u.raw_output,
            intent=u.intent,
            accepted=u.intent.is_confident,
            model=u.model,
            prompt_version=u.prompt_version,
            latency_ms=u.latency_ms,
            tokens=u.tokens,
            detour=u.detour,
            asks_for_erasure=u.asks_for_erasure,
            llm=u.llm,
        )
    )
    if d.state.handed_over:
        return  # a person answers: the message is recorded (the console shows it), the bot stays silent
    if erasure.erased(d):
        return  # the goodbye was the last message: recorded, and forgotten with the rest
    m = _incoming(command, not_understood_before)
    if m.asks_for_person:
        handover.hand_over(d, HandOverReason.ASKED_FOR_PERSON)
        return
    if m.asks_for_erasure and d.state.conversation is not ConversationState.CONFIRMING_ERASURE:
        erasure.ask(d)
        return
    _BY_STATE[d.state.conversation](d, m)
