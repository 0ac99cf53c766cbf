"""Normalized inbound updates: what the ingress publishes to JetStream, one per message, status or error.

A consumer parses any of them with :data:`INBOUND_ENVELOPE_ADAPTER` (discriminated on ``kind``). Each
one says how to deduplicate it (``dedupe_key``, used as ``Nats-Msg-Id`` and in the durable seen-ids
record) and how to partition it (``sender_key``: updates of the same person stay in order).

Nothing is dropped here: messages of unsupported or unknown types are normalized like any other, and
the original message / status dict travels along verbatim in ``raw`` for audit and replay. What the
customer typed (text, profile name, tapped title, shared place) is normalised as an
:class:`InboundMessage` is built (``contracts.customer_text``): controls removed, NFC, cut at WhatsApp's
limit with the original length kept in ``text_truncated_from``. Its ``raw`` keeps the original.

A lone surrogate (``contracts.lone_surrogates``) is replaced by U+FFFD in every field but ``raw``, which
keeps it: such an envelope is written and read with the standard library's JSON, which can escape it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic_core import PydanticSerializationError

from contracts.customer_text import clean, normalise_text
from contracts.lone_surrogates import (
    dumps_keeping_lone_surrogates,
    loads_keeping_lone_surrogates,
    may_hold_lone_surrogates,
    without_lone_surrogates,
)
from contracts.whatsapp import (
    ErrorItem,
    Location,
    Message,
    MessageItem,
    StatusItem,
    WebhookPayload,
    WhatsAppError,
    unix_seconds_to_datetime,
)

#: Partition key of an update that names nobody (should not happen; never worth dropping the update).
UNKNOWN_SENDER = "unknown"


class _Inbound(BaseModel):
    # Ignore (rather than forbid) unknown fields: a consumer still on the previous release must keep
    # reading what a newer ingress publishes.
    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = 1
    entry_id: str | None = None
    phone_number_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_lone_surrogates(cls, data: Any) -> Any:
        # Ids and texts alike end up in NATS headers and PostgreSQL, which cannot hold one; ``raw`` keeps
        # what was received.
        if not isinstance(data, dict):
            return data
        return {
            key: value if key == "raw" or _plain(value) else without_lone_surrogates(value)
            for key, value in data.items()
        }


def _plain(value: Any) -> bool:
    """Surely without a lone surrogate, at a glance: absent, ASCII text or an empty list (most fields)."""
    return value is None or (type(value) is str and value.isascii()) or (type(value) is list and not value)


class InboundMessage(_Inbound):
    """A message a WhatsApp user sent us."""

    kind: Literal["message"] = "message"
    wamid: str
    #: The phone-number id (``wa_id``) when known, else the business-scoped user id.
    sender_id: str | None = None
    sender_wa_id: str | None = None
    sender_user_id: str | None = None
    sender_name: str | None = None
    #: Raw unix seconds, as Meta sent them; see :attr:`occurred_at`.
    timestamp: str | None = None
    type: str
    #: What the user typed: a text body, a media caption or an order note.
    text: str | None = None
    #: The id / title of the tapped reply button or list row (or a template quick reply's payload / text).
    reply_id: str | None = None
    reply_title: str | None = None
    location: Location | None = None
    media_id: str | None = None
    media_mime_type: str | None = None
    #: The wamid this message replies to.
    context_wamid: str | None = None
    #: How long ``text`` was before it was cut at WhatsApp's limit (None: not cut).
    text_truncated_from: int | None = None
    #: How many control characters were removed from ``text``.
    text_controls_removed: int = 0
    raw: dict[str, Any]

    @model_validator(mode="before")
    @classmethod
    def _normalise_customer_text(cls, data: Any) -> Any:
        # On every construction, the ingress's and a consumer's parse alike: an envelope published before
        # this rule existed is made safe too (normalising twice changes nothing).
        if not isinstance(data, dict):
            return data
        fields = dict(data)
        text = fields.get("text")
        if isinstance(text, str):
            normalised = normalise_text(text)
            fields["text"] = normalised.text
            if normalised.truncated_from is not None:
                fields["text_truncated_from"] = normalised.truncated_from
            if normalised.controls_removed:
                fields["text_controls_removed"] = normalised.controls_removed
        for name in ("sender_name", "reply_id", "reply_title"):
            value = fields.get(name)
            if isinstance(value, str):
                fields[name] = clean(value)
        location = fields.get("location")
        if isinstance(location, Location) and (location.name or location.address):
            fields["location"] = location.model_copy(
                update={"name": clean(location.name), "address": clean(location.address)}
            )
        elif isinstance(location, dict):
            fields["location"] = {
                key: clean(value) if key in ("name", "address") and isinstance(value, str) else value
                for key, value in location.items()
            }
        return fields

    @property
    def dedupe_key(self) -> str:
        return self.wamid

    @property
    def sender_key(self) -> str:
        return self.sender_id or UNKNOWN_SENDER

    @property
    def occurred_at(self) -> datetime | None:
        return unix_seconds_to_datetime(self.timestamp)


class InboundStatus(_Inbound):
    """A delivery status of a message we sent (``wamid`` is that outbound message's id)."""

    kind: Literal["status"] = "status"
    wamid: str
    status: str
    #: The recipient's phone-number id when known, else their business-scoped user id.
    recipient_id: str | None = None
    recipient_wa_id: str | None = None
    recipient_user_id: str | None = None
    timestamp: str | None = None
    errors: list[WhatsAppError] = Field(default_factory=list)
    biz_opaque_callback_data: str | None = None
    raw: dict[str, Any]

    @property
    def dedupe_key(self) -> str:
        # One message goes through several statuses; each of them is a separate update.
        return f"{self.wamid}:{self.status}"

    @property
    def sender_key(self) -> str:
        return self.recipient_id or UNKNOWN_SENDER

    @property
    def occurred_at(self) -> datetime | None:
        return unix_seconds_to_datetime(self.timestamp)


class InboundError(_Inbound):
    """An entry of ``value.errors``: a problem of our phone number / app, not tied to one message."""

    kind: Literal["error"] = "error"
    error: WhatsAppError

    @property
    def dedupe_key(self) -> str:
        """sha256 of the error's canonical JSON: it has no id, and Meta's retries repeat it byte for byte."""
        content = {
            "phone_number_id": self.phone_number_id,
            # exclude_none: an explicit null and an absent field are the same error, and the key must
            # survive a JSON round trip of this envelope (which writes every field).
            "error": self.error.model_dump(mode="json", exclude_none=True),
        }
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def sender_key(self) -> str:
        return self.phone_number_id or UNKNOWN_SENDER


InboundEnvelope = Annotated[InboundMessage | InboundStatus | InboundError, Field(discriminator="kind")]

INBOUND_ENVELOPE_ADAPTER: TypeAdapter[InboundEnvelope] = TypeAdapter(InboundEnvelope)


def parse_envelope(data: str | bytes) -> InboundEnvelope:
    """Parse a published envelope (JSON) back into its model."""
    try:
        return INBOUND_ENVELOPE_ADAPTER.validate_json(data)
    except ValidationError as error:
        # A raw payload holding a lone surrogate was published as its JSON escape, which pydantic refuses.
        encoded = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
        if error.errors()[0]["type"] != "json_invalid" or not may_hold_lone_surrogates(encoded):
            raise
        return INBOUND_ENVELOPE_ADAPTER.validate_python(loads_keeping_lone_surrogates(encoded))


def dump_envelope(envelope: InboundEnvelope) -> bytes:
    """The JSON bytes to publish."""
    try:
        return INBOUND_ENVELOPE_ADAPTER.dump_json(envelope)
    except PydanticSerializationError:
        # Only ``raw`` can still hold a lone surrogate (see ``_Inbound``): written as its JSON escape.
        return dumps_keeping_lone_surrogates(INBOUND_ENVELOPE_ADAPTER.dump_python(envelope, mode="json"))


def normalize(payload: WebhookPayload) -> list[InboundEnvelope]:
    """One envelope per message, status and value-level error, in payload order."""
    envelopes: list[InboundEnvelope] = []
    for update in payload.iter_updates():
        if isinstance(update, MessageItem):
            envelopes.append(_from_message(update))
        elif isinstance(update, StatusItem):
            envelopes.append(_from_status(update))
        else:
            envelopes.append(_from_error(update))
    return envelopes


def _from_message(item: MessageItem) -> InboundMessage:
    message, contact = item.message, item.contact
    wa_id = message.from_ or (contact.wa_id if contact else None)
    user_id = message.from_user_id or (contact.user_id if contact else None)
    reply_id, reply_title = _reply_of(message)
    media = message.media
    return InboundMessage(
        entry_id=item.origin.entry_id,
        phone_number_id=item.phone_number_id,
        wamid=message.id,
        sender_id=wa_id or user_id,
        sender_wa_id=wa_id,
        sender_user_id=user_id,
        sender_name=contact.profile.name if contact and contact.profile else None,
        timestamp=message.timestamp,
        type=message.type,
        text=_text_of(message),
        reply_id=reply_id,
        reply_title=reply_title,
        location=message.location,
        media_id=media.id if media else None,
        media_mime_type=media.mime_type if media else None,
        context_wamid=message.context.id if message.context else None,
        raw=message.raw,
    )


def _text_of(message: Message) -> str | None:
    if message.text is not None:
        return message.text.body
    if message.media is not None and message.media.caption:
        return message.media.caption
    if message.order is not None and message.order.text:
        return message.order.text
    return None


def _reply_of(message: Message) -> tuple[str | None, str | None]:
    interactive = message.interactive
    if interactive is not None:
        reply = interactive.button_reply or interactive.list_reply
        if reply is not None:
            return reply.id, reply.title
    if message.button is not None:
        return message.button.payload, message.button.text
    return None, None


def _from_status(item: StatusItem) -> InboundStatus:
    status, contact = item.status, item.contact
    wa_id = status.recipient_id or (contact.wa_id if contact else None)
    user_id = status.recipient_user_id or (contact.user_id if contact else None)
    return InboundStatus(
        entry_id=item.origin.entry_id,
        phone_number_id=item.phone_number_id,
        wamid=status.id,
        status=status.status,
        recipient_id=wa_id or user_id,
        recipient_wa_id=wa_id,
        recipient_user_id=user_id,
        timestamp=status.timestamp,
        errors=status.errors,
        biz_opaque_callback_data=status.biz_opaque_callback_data,
        raw=status.raw,
    )


def _from_error(item: ErrorItem) -> InboundError:
    return InboundError(entry_id=item.origin.entry_id, phone_number_id=item.phone_number_id, error=item.error)
