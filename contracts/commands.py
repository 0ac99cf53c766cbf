"""Commands: what callers ask the domain to do (imperative), decided by ``orchestrator.leads_flow.decide``.

Every command has a ``command_id`` chosen by its caller deterministically (the inbound wamid, or an id
derived from the timer and the lead), so a repeated command is recognisable and its decision reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.intent import Intent, Service, UnderstandingSource
from contracts.llm import LlmTrace, OffFlowTopic

#: An opaque id the handler derives from the WhatsApp sender (a hash, never a raw phone number). No dots:
#: lead ids are ``<customer_key>.<n>``.
CustomerKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,128}$")]
ProviderId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
LeadId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,128}\.[1-9][0-9]*$")]
#: WhatsApp id: digits, country code first, no "+".
WhatsAppPhone = Annotated[str, Field(pattern=r"^[1-9][0-9]{7,14}$")]


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    command_id: str = Field(min_length=1, max_length=200)


class Understanding(BaseModel):
    """What the understanding step produced for one message, and how (recorded as ``IntentExtracted``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    intent: Intent = Field(default_factory=Intent)
    source: UnderstandingSource
    #: What the user typed, if anything.
    text: str | None = None
    #: The id of the tapped button or list row, if any.
    reply_id: str | None = None
    raw_output: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    latency_ms: float | None = Field(default=None, ge=0)
    tokens: int | None = Field(default=None, ge=0)
    #: An off-flow question ("¿cuánto cobran?"), answered by a backend text before the pending question.
    detour: OffFlowTopic | None = None
    #: The customer asked that their data be erased ("borra mis datos"): rules only, never the LLM; the
    #: bot asks to confirm. Recorded, so the audit re-decides it once the text is forgotten too.
    asks_for_erasure: bool = False
    #: What the LLM was asked and what came of it, when it was asked.
    llm: LlmTrace | None = None


class HandleCustomerMessage(Command):
    customer_key: CustomerKey
    phone: str = Field(min_length=1)
    profile_name: str | None = None
    wamid: str = Field(min_length=1)
    message_type: str = "text"
    received_at: datetime
    understanding: Understanding
    #: How long the typed text was before it was cut at WhatsApp's limit (None: not cut).
    text_truncated_from: int | None = Field(default=None, ge=0)


class HandleTechnicianMessage(Command):
    """A message from a registered technician about ``lead_id`` (the handler resolves which lead).

    ``lead_id`` is None when the handler could not tell which lead the message is about.
    """

    provider_id: ProviderId
    lead_id: LeadId | None = None
    phone: str = Field(min_length=1)
    wamid: str = Field(min_length=1)
    message_type: str = "text"
    received_at: datetime
    understanding: Understanding
    #: How long the typed text was before it was cut at WhatsApp's limit (None: not cut).
    text_truncated_from: int | None = Field(default=None, ge=0)


class RegisterProvider(Command):
    provider_id: ProviderId
    name: str = Field(min_length=1, max_length=100)
    phone: WhatsAppPhone
    services: tuple[Service, ...] = Field(min_length=1)
    comunas: tuple[str, ...] = Field(min_length=1)
    capacity: int = Field(default=2, ge=1, le=50)
    active: bool = True


class UpdateProvider(Command):
    """Fields left as None are not changed."""

    provider_id: ProviderId
    name: str | None = Field(default=None, min_length=1, max_length=100)
    phone: WhatsAppPhone | None = None
    services: tuple[Service, ...] | None = Field(default=None, min_length=1)
    comunas: tuple[str, ...] | None = Field(default=None, min_length=1)
    capacity: int | None = Field(default=None, ge=1, le=50)


class DeactivateProvider(Command):
    provider_id: ProviderId
    reason: str | None = None


class ActivateProvider(Command):
    provider_id: ProviderId


class ForgetProvider(Command):
    """A technician's erasure (``conectapro privacy forget``): no more offers, their name and phone read as
    suppressed everywhere from now on (the erasure then destroys their key)."""

    provider_id: ProviderId
    #: The leads they were offered or assigned, as the caller found them: the read models blank what those
    #: leads' messages say of the technician.
    leads: tuple[LeadId, ...] = ()


# --------------------------------------------------------------------------- timers (sent by the closer)
# Each names the lead it is about; when the lead has moved on, the decision is empty (a stale tick is
# harmless).


class ExpireConversation(Command):
    """A draft abandoned for too long: expire it and say goodbye."""

    customer_key: CustomerKey
    lead_id: LeadId
    #: How many messages the customer had sent when the closer found the draft abandoned. A customer who
    #: wrote again before this command is decided is not abandoning it. None: sent by an older closer.
    customer_messages_seen: int | None = Field(default=None, ge=0)


class TimeoutOffer(Command):
    """The offered technician did not answer: offer the lead to the next candidate."""

    customer_key: CustomerKey
    lead_id: LeadId
    provider_id: ProviderId


class FollowUpJob(Command):
    """An assigned job past its window: ask the customer whether it was done, and for a rating."""

    customer_key: CustomerKey
    lead_id: LeadId


class CloseUnratedLead(Command):
    """The rating never came: close the lead."""

    customer_key: CustomerKey
    lead_id: LeadId


class DropErasureQuestion(Command):
    """The customer left "¿borrar tus datos?" unanswered too long: the flow resumes where it was, as after
    a "No" (silently: the customer service window may be closed), so its timers (the rating's) run again."""

    customer_key: CustomerKey
    #: The conversation's current or last lead ("" when it never had one): the closer's index names it.
    lead_id: str = ""
    #: How many messages the customer had sent when the closer found the question unanswered: one who wrote
    #: since (answered, or asked again) is left alone.
    customer_messages_seen: int = Field(ge=0)


# ------------------------------------------------------------------ parked messages (sent by the consumer)


class ApologiseForFailedMessage(Command):
    """A customer's message could not be handled after its retries and was parked: record it on their
    stream and, unless they heard it within the hour, ask them to write it again."""

    customer_key: CustomerKey
    #: Where the apology goes when the stream does not know the customer yet (their first message failed).
    phone: str = Field(min_length=1)
    wamid: str = Field(min_length=1)
    reason: str = Field(min_length=1, max_length=500)


#: The commands decided like timers: the closer's, and the apology for a parked message.
TimerCommand = (
    ExpireConversation | TimeoutOffer | FollowUpJob | CloseUnratedLead | DropErasureQuestion | ApologiseForFailedMessage
)

#: A timer command's record name → its class (the class name: stable, and readable in the timeline).
TIMER_COMMANDS: Mapping[str, type[TimerCommand]] = {
    cls.__name__: cls
    for cls in (
        ExpireConversation, TimeoutOffer, FollowUpJob, CloseUnratedLead, DropErasureQuestion, ApologiseForFailedMessage
    )
}


class UnknownCommand(ValueError):
    """A record that is not one of the timer commands."""


def command_record(command: TimerCommand) -> dict[str, Any]:
    """A timer command as a JSON-able dict with its ``type``: the body the closer publishes, and what a
    decision records in ``metadata.command``."""
    return {"type": type(command).__name__, **command.model_dump(mode="json")}


def command_from_record(record: Mapping[str, Any]) -> TimerCommand:
    fields = dict(record)
    cls = TIMER_COMMANDS.get(str(fields.pop("type", "")))
    if cls is None:
        raise UnknownCommand(f"not a timer command: {record.get('type')!r}")
    return cls.model_validate(fields)


# ------------------------------------------------------- handed-over conversations (sent by operators)

#: An operator's login name (``contracts.operator_events.OPERATOR_NAME_PATTERN``).
OperatorName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,31}$")]


class TakeConversation(Command):
    """An operator takes a handed-over conversation: they answer the customer from now on."""

    customer_key: CustomerKey
    operator: OperatorName


class WriteToCustomer(Command):
    """An operator writes to the customer of a conversation they took (inside WhatsApp's 24-hour window)."""

    customer_key: CustomerKey
    operator: OperatorName
    text: str = Field(min_length=1, max_length=4096)


class HandBackConversation(Command):
    """An operator gives a handed-over conversation back to the bot, which resumes where the flow was: the
    operator who took it, or an admin."""

    customer_key: CustomerKey
    operator: OperatorName
    #: The operator's role when they acted is admin (who may hand back a conversation someone else holds).
    by_admin: bool = False
    #: Rebuilt by the audit from a hand-back recorded while anyone could hand back (its event names no
    #: authority): re-decided under that rule. Never set by an operator's request.
    recorded_when_anyone_could: bool = False


OperatorConversationCommand = TakeConversation | WriteToCustomer | HandBackConversation

CustomerCommand = (
    HandleCustomerMessage
    | HandleTechnicianMessage
    | ExpireConversation
    | TimeoutOffer
    | FollowUpJob
    | CloseUnratedLead
    | DropErasureQuestion
    | ApologiseForFailedMessage
    | TakeConversation
    | WriteToCustomer
    | HandBackConversation
)
ProviderCommand = RegisterProvider | UpdateProvider | DeactivateProvider | ActivateProvider | ForgetProvider
