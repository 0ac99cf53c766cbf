"""Read model ``read_models.conversations``: one row per customer stream, as an operator opens it.

The pending question is derived exactly as the orchestrator derives it (``CustomerState.pending_question``
over the conversation state and the current lead's fields), so the operator sees what the bot is waiting for.
Only the customer's own chat counts as messages here; technicians' messages about the lead (recorded on the
same stream) appear in the timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from contracts.events import Event
from contracts.intent import Service, Urgency
from contracts.lead_events import (
    ConversationState,
    ConversationStateChanged,
    LeadDrafted,
    LeadFields,
    LeadFieldsCaptured,
    LeadStatus,
    LeadSubmitted,
    MessageReceived,
    SenderRole,
)
from contracts.outbound import RecipientRole, ReplyQueued
from orchestrator.domain.evolve import LEAD_TRIGGER_OF_EVENT
from orchestrator.domain.ids import CUSTOMER_STREAM_PREFIX
from orchestrator.domain.model import CustomerState, Lead
from orchestrator.domain.states import LEAD_TRANSITIONS
from projections.envelope import EventContext
from projections.projector import Projector
from projections.readmodels.forgotten import (
    FORGOTTEN,
    TECHNICIAN_FORGOTTEN,
    blank,
    customers_of_technician,
    rows_of_person,
)
from projections.readmodels.leads import LEAD_EVENT_TYPES
from projections.table import Table

#: How many messages a conversation row keeps (the timeline has all of them).
RECENT_MESSAGES = 20
#: Longer texts are cut in the row (a WhatsApp text may be 4,096 characters).
MAX_TEXT = 500


class ConversationRow(NamedTuple):
    customer_key: str
    phone: str | None = None
    profile_name: str | None = None
    state: str = ConversationState.IDLE.value
    pending_question: str = "none"
    current_lead_id: str | None = None
    current_lead_status: str | None = None
    #: The current lead's captured fields (only the ones given). Never mutated: every change is a new dict.
    fields: Mapping[str, Any] = {}
    leads_started: int = 0
    messages_in: int = 0
    messages_out: int = 0
    #: Oldest first; timestamps as ISO strings, the way they come back from jsonb.
    recent_messages: tuple[Mapping[str, Any], ...] = ()
    started_at: datetime | None = None
    last_message_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 0


CONVERSATIONS = Table(
    "read_models.conversations",
    ConversationRow,
    {
        "customer_key": "text", "phone": "text", "profile_name": "text", "state": "text",
        "pending_question": "text", "current_lead_id": "text", "current_lead_status": "text", "fields": "jsonb",
        "leads_started": "integer", "messages_in": "integer", "messages_out": "integer",
        "recent_messages": "jsonb", "started_at": "timestamptz", "last_message_at": "timestamptz",
        "updated_at": "timestamptz", "version": "integer",
    },
    decoders={"recent_messages": tuple},
)  # fmt: skip


def pending_question(state: str, lead_id: str | None, lead_status: str | None, fields: Mapping[str, Any]) -> str:
    """What the orchestrator is waiting for, computed by the orchestrator's own model."""
    has_lead = lead_id is not None and lead_status is not None
    return _pending_question(state, lead_status if has_lead else None, frozenset(k for k, v in fields.items() if v))


# A valid value of each lead field, standing in for whatever the customer gave.
_ANY_VALUE: dict[str, Any] = {
    "service": Service.ELECTRICIDAD,
    "comuna": "Santiago",
    "problem": "given",
    "urgency": Urgency.HOY,
    "address": "given",
}


@lru_cache(maxsize=1024)
def _pending_question(state: str, lead_status: str | None, given: frozenset[str]) -> str:
    # Only which fields are given matters, not their values: cached on that, it costs a dict lookup.
    lead = None
    if lead_status is not None:
        placeholders = LeadFields.model_validate({name: _ANY_VALUE[name] for name in given})
        # drafted_at plays no part in the pending question; any value will do.
        lead = Lead("lead", LeadStatus(lead_status), datetime.min, fields=placeholders)
    return CustomerState(conversation=ConversationState(state), lead=lead).pending_question.value


def _clip(text: str | None) -> str | None:
    return text if text is None or len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _message(row: ConversationRow, message: dict[str, Any], at: datetime, *, inbound: bool) -> dict[str, Any]:
    return {
        "recent_messages": (*row.recent_messages, message)[-RECENT_MESSAGES:],
        "messages_in": row.messages_in + (1 if inbound else 0),
        "messages_out": row.messages_out + (0 if inbound else 1),
        "last_message_at": at,
    }


def _lead_changes(row: ConversationRow, event: Any, _: EventContext) -> dict[str, Any]:
    """The current lead's status and fields after one of its events."""
    status = row.current_lead_status
    if status is None or event.lead_id != row.current_lead_id:
        return {}
    changes: dict[str, Any] = {}
    if event.TYPE in _CARRY_FIELDS:
        changes["fields"] = {**row.fields, **event.fields.model_dump(mode="json", exclude_none=True)}
    trigger = LEAD_TRIGGER_OF_EVENT.get(event.TYPE)
    if trigger is not None:
        target = LEAD_TRANSITIONS.get((LeadStatus(status), trigger))
        if target is not None and target.value != status:
            changes["current_lead_status"] = target.value
    return changes


def _received(row: ConversationRow, event: MessageReceived, _: EventContext) -> dict[str, Any]:
    if event.role is not SenderRole.CUSTOMER:
        return {}  # a technician's message about the lead: the timeline shows it, the chat does not
    message = {
        "direction": "in", "at": event.received_at.isoformat(), "id": event.wamid,
        "type": event.message_type, "text": _clip(event.text), "reply_id": event.reply_id,
    }  # fmt: skip
    return {
        "phone": event.phone, "profile_name": event.profile_name or row.profile_name,
        **_message(row, message, event.received_at, inbound=True),
    }  # fmt: skip


def _queued(row: ConversationRow, event: ReplyQueued, ctx: EventContext) -> dict[str, Any]:
    if event.recipient is not RecipientRole.CUSTOMER:
        return {}
    message = {
        "direction": "out", "at": ctx.recorded_at.isoformat(), "id": str(event.reply_id),
        "type": event.message.kind, "text": _clip(event.message.plain_text), "purpose": event.purpose,
    }  # fmt: skip
    return _message(row, message, ctx.recorded_at, inbound=False)


def _state_changed(_: ConversationRow, event: ConversationStateChanged, __: EventContext) -> dict[str, Any]:
    return {"state": event.to_state.value}


def _drafted(row: ConversationRow, event: LeadDrafted, _: EventContext) -> dict[str, Any]:
    return {
        "phone": row.phone or event.phone, "current_lead_id": event.lead_id,
        "current_lead_status": LeadStatus.DRAFT.value, "fields": {}, "leads_started": row.leads_started + 1,
    }  # fmt: skip


_CARRY_FIELDS = frozenset({LeadFieldsCaptured.TYPE, LeadSubmitted.TYPE})

# Dispatch on the type name: a rebuild calls this for half the events, and isinstance checks on pydantic
# models (ABCMeta) cost more than the rest of the fold.
_CHANGES: dict[str, Callable[[ConversationRow, Any, EventContext], dict[str, Any]]] = {
    **dict.fromkeys(LEAD_EVENT_TYPES, _lead_changes),
    MessageReceived.TYPE: _received,
    ReplyQueued.TYPE: _queued,
    ConversationStateChanged.TYPE: _state_changed,
    LeadDrafted.TYPE: _drafted,
}


def _forget(row: ConversationRow) -> ConversationRow:
    """The person's values blanked: phone, name, what they wrote and were written, the lead's free text.
    Counts, states and times stay (they are what operators and the stats keep working on)."""
    fields = {name: blank(value) if name in _PERSONAL_FIELDS else value for name, value in row.fields.items()}
    messages = tuple({**m, "text": blank(m.get("text"))} for m in row.recent_messages)
    blanked = row._replace(
        phone=blank(row.phone), profile_name=blank(row.profile_name), fields=fields, recent_messages=messages
    )
    return row if blanked == row else blanked


#: The lead fields that are the customer's free text (``contracts.personal``: problem and address).
_PERSONAL_FIELDS = frozenset({"problem", "address"})


def _forget_technician(row: ConversationRow) -> ConversationRow:
    """A technician the customer dealt with was forgotten: what the bot wrote to the customer (it may name
    the technician and give their phone) blanked; what the customer wrote stays."""
    messages = tuple(
        {**m, "text": blank(m.get("text"))} if m.get("direction") == "out" else m for m in row.recent_messages
    )
    return row if messages == row.recent_messages else row._replace(recent_messages=messages)


def evolve_conversation(row: ConversationRow | None, event: Event, ctx: EventContext) -> ConversationRow | None:
    if event.TYPE == FORGOTTEN:
        return None if row is None else _forget(row)
    if event.TYPE == TECHNICIAN_FORGOTTEN:
        return None if row is None else _forget_technician(row)
    current = row if row is not None else ConversationRow(
        ctx.stream_id.removeprefix(CUSTOMER_STREAM_PREFIX), started_at=ctx.recorded_at
    )
    changes = _CHANGES[event.TYPE](current, event, ctx)
    if not changes and row is not None:
        return row
    after = current._replace(**changes, updated_at=ctx.recorded_at, version=ctx.stream_version)
    question = pending_question(after.state, after.current_lead_id, after.current_lead_status, after.fields)
    return after._replace(pending_question=question) if question != after.pending_question else after


def conversation_key(_: Event, ctx: EventContext) -> str | None:
    if not ctx.stream_id.startswith(CUSTOMER_STREAM_PREFIX):
        return None  # e.g. a technician's stray message on their own provider stream
    return ctx.stream_id.removeprefix(CUSTOMER_STREAM_PREFIX)


CONVERSATION_EVENT_TYPES = LEAD_EVENT_TYPES | {
    MessageReceived.TYPE, ReplyQueued.TYPE, ConversationStateChanged.TYPE,
}  # fmt: skip

CONVERSATIONS_PROJECTOR: Projector[str, ConversationRow] = Projector(
    CONVERSATIONS, CONVERSATION_EVENT_TYPES, conversation_key, evolve_conversation,
    selects={
        FORGOTTEN: rows_of_person("customer_key"), TECHNICIAN_FORGOTTEN: customers_of_technician("customer_key")
    },
)  # fmt: skip
