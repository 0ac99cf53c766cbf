"""Rebuilding the command behind a recorded decision, from what the decision recorded (never the LLM).

* a customer's ``MessageReceived`` + ``IntentExtracted``: the message and its understanding as recorded;
* a technician's ``MessageReceived``: the lead it is about is routed again, as the handler does;
* a timer: the command the commands consumer stored in ``metadata.command``;
* an operator's action on a handed-over conversation: turned back into its command from its first event;
* an operator's technician event: turned back into its command.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from audit.stored import StoredEvent
from contracts.commands import (
    ActivateProvider,
    CustomerCommand,
    DeactivateProvider,
    ForgetProvider,
    HandBackConversation,
    HandleCustomerMessage,
    HandleTechnicianMessage,
    ProviderCommand,
    RegisterProvider,
    TakeConversation,
    Understanding,
    UpdateProvider,
    WriteToCustomer,
)
from contracts.events import Event, upcast
from contracts.intent import UnderstandingSource
from contracts.lead_events import (
    ConversationHandedBack,
    ConversationTaken,
    HandBackAuthority,
    IntentExtracted,
    MessageReceived,
    SenderRole,
)
from contracts.outbound import ReplyQueued
from contracts.provider_events import (
    ProviderActivated,
    ProviderDeactivated,
    ProviderForgotten,
    ProviderRegistered,
    ProviderUpdated,
)
from orchestrator import leads_flow
from orchestrator.domain.ids import CUSTOMER_STREAM_PREFIX
from orchestrator.domain.model import CustomerState
from orchestrator.domain.providers import ProviderView
from orchestrator.understanding.erasure import asks_for_erasure


class CannotRebuild(ValueError):
    """The recorded events do not say which command caused them."""


def customer_command(
    stream_id: str, group: Sequence[StoredEvent], state: CustomerState, views: Mapping[str, ProviderView]
) -> CustomerCommand:
    """The command that caused ``group`` on a customer stream, from what was recorded."""
    first = group[0]
    if first.type == MessageReceived.TYPE:
        if first.data.get("role") == SenderRole.CUSTOMER.value:
            return _customer_message(stream_id, group)
        received = first.decoded()
        assert isinstance(received, MessageReceived)
        return _technician_message(stream_id, received, state, views)
    if first.type in _OPERATOR_EVENT_TYPES:
        operator = _operator_command(stream_id, first)
        if operator is not None:
            return operator
    timer = first.timer_command()
    if timer is not None:
        return timer
    raise CannotRebuild(f"{first.type} is neither a recorded message nor a recorded command")


_OPERATOR_EVENT_TYPES = frozenset({ConversationTaken.TYPE, ReplyQueued.TYPE, ConversationHandedBack.TYPE})


def _operator_command(stream_id: str, first: StoredEvent) -> CustomerCommand | None:
    """An operator's action on a handed-over conversation, from the first event it recorded (a reply the bot
    queued names no operator: it is not one)."""
    customer_key = stream_id.removeprefix(CUSTOMER_STREAM_PREFIX)
    event = first.decoded()
    match event:
        case ConversationTaken():
            return TakeConversation(command_id=first.correlation_id, customer_key=customer_key, operator=event.by)
        case ConversationHandedBack():
            return HandBackConversation(
                command_id=first.correlation_id,
                customer_key=customer_key,
                operator=event.by,
                by_admin=event.authority is HandBackAuthority.ADMIN,
                recorded_when_anyone_could=event.authority is None,
            )
        case ReplyQueued(written_by=str(operator)):
            text = event.message.plain_text
            return WriteToCustomer(
                command_id=first.correlation_id, customer_key=customer_key, operator=operator, text=text
            )
    return None


def _customer_message(stream_id: str, group: Sequence[StoredEvent]) -> CustomerCommand:
    # Validated as the command straight from the recorded data (one pass, not the two events then the
    # command): the decision records the message and its understanding again, so ``compare`` still holds
    # every recorded field to what was stored.
    first, second = group[0], group[1] if len(group) > 1 else None
    received = upcast(first.type, first.schema_version, first.data)
    extracted = None
    if second is not None and second.type == IntentExtracted.TYPE:
        extracted = upcast(second.type, second.schema_version, second.data)
    if extracted is None or extracted.get("wamid") != received.get("wamid"):
        raise CannotRebuild(f"message {received.get('wamid')} has no recorded understanding (IntentExtracted)")
    return HandleCustomerMessage.model_validate(
        {
            "command_id": received.get("wamid"),
            "customer_key": stream_id.removeprefix(CUSTOMER_STREAM_PREFIX),
            "phone": received.get("phone"),
            "profile_name": received.get("profile_name"),
            "wamid": received.get("wamid"),
            "message_type": received.get("message_type"),
            "received_at": received.get("received_at"),
            "text_truncated_from": received.get("text_truncated_from"),
            "understanding": {
                "intent": extracted.get("intent"),
                "source": extracted.get("source"),
                "text": received.get("text"),
                "reply_id": received.get("reply_id"),
                "raw_output": extracted.get("raw_output"),
                "model": extracted.get("model"),
                "prompt_version": extracted.get("prompt_version"),
                "latency_ms": extracted.get("latency_ms"),
                "tokens": extracted.get("tokens"),
                # What the LLM said is read back as recorded: the audit never asks it again.
                "detour": extracted.get("detour"),
                "asks_for_erasure": extracted.get("asks_for_erasure", False),
                "llm": extracted.get("llm"),
            },
        }
    )


def _technician_understanding(received: MessageReceived) -> Understanding:
    # Technicians' decisions read only the tapped id and the text, both recorded.
    if received.reply_id:
        return Understanding(source=UnderstandingSource.INTERACTIVE, text=received.text, reply_id=received.reply_id)
    return Understanding(
        source=UnderstandingSource.RULES, text=received.text, asks_for_erasure=asks_for_erasure(received.text)
    )


def _technician_message(
    stream_id: str, received: MessageReceived, state: CustomerState, views: Mapping[str, ProviderView]
) -> CustomerCommand:
    provider_id = received.provider_id
    if provider_id is None:
        raise CannotRebuild(f"technician message {received.wamid} names no technician")
    # Routed again as the handler does; it routed here, so a lead of another stream means the views differ
    # from the handler's, and the stream's own lead is the one it must have meant.
    view = views.get(provider_id)
    lead_id = leads_flow.route_technician_message(view, received.reply_id, received.text) if view else None
    customer_key = stream_id.removeprefix(CUSTOMER_STREAM_PREFIX)
    if lead_id is None or leads_flow.customer_key_of_lead(lead_id) != customer_key:
        lead_id = state.lead.lead_id if state.lead is not None else None
    return _technician_command(received, provider_id, lead_id)


def unrouted_technician_message(received: MessageReceived) -> HandleTechnicianMessage:
    """A technician's message the handler could not tie to any lead (decided on their own stream)."""
    if received.provider_id is None:
        raise CannotRebuild(f"technician message {received.wamid} names no technician")
    return _technician_command(received, received.provider_id, None)


def _technician_command(received: MessageReceived, provider_id: str, lead_id: str | None) -> HandleTechnicianMessage:
    return HandleTechnicianMessage(
        command_id=received.wamid,
        provider_id=provider_id,
        lead_id=lead_id,
        phone=received.phone,
        wamid=received.wamid,
        message_type=received.message_type,
        received_at=received.received_at,
        understanding=_technician_understanding(received),
        text_truncated_from=received.text_truncated_from,
    )


def provider_command(event: Event, command_id: str) -> ProviderCommand:
    """The operator command behind a technician's registry event."""
    match event:
        case ProviderRegistered():
            fields = event.model_dump(include={"provider_id", "name", "phone", "services", "comunas", "capacity"})
            return RegisterProvider(command_id=command_id, active=event.active, **fields)
        case ProviderUpdated():
            fields = event.model_dump(include={"provider_id", "name", "phone", "services", "comunas", "capacity"})
            return UpdateProvider(command_id=command_id, **fields)
        case ProviderDeactivated():
            return DeactivateProvider(command_id=command_id, provider_id=event.provider_id, reason=event.reason)
        case ProviderActivated():
            return ActivateProvider(command_id=command_id, provider_id=event.provider_id)
        case ProviderForgotten():
            return ForgetProvider(command_id=command_id, provider_id=event.provider_id, leads=event.leads)
    raise CannotRebuild(f"{event.TYPE} is not an operator's decision")


def describe(command: CustomerCommand | ProviderCommand) -> str:
    """What caused a decision, for the report."""
    match command:
        case HandleCustomerMessage():
            return f"customer message ({command.understanding.source} understanding)"
        case HandleTechnicianMessage():
            return f"technician {command.provider_id}'s message"
        case TakeConversation() | WriteToCustomer() | HandBackConversation():
            return f"{type(command).__name__} by operator {command.operator}"
    return f"{type(command).__name__} command"
