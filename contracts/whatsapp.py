"""Pydantic models of the WhatsApp Cloud API webhook (verification query and notification payloads).

Meta adds fields and message types without notice, so every model keeps unknown fields
(``extra="allow"``: they stay in ``model_extra`` and in dumps) and a message or status of an unknown
``type`` / ``status`` still parses: those stay plain strings, with enums only as helpers. Only the fields
that identify an update (message and status ``id``, message ``type``, status ``status``) are required;
everything else is optional, because a webhook we cannot parse is a webhook we lose.

Timestamps are kept as the raw strings Meta sends (unix seconds); :func:`unix_seconds_to_datetime` turns
them into datetimes and answers ``None`` for anything else (one real payload has a redacted timestamp).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import to_jsonable_python

from contracts.customer_text import clean


def unix_seconds_to_datetime(raw: str | None) -> datetime | None:
    """The UTC datetime of a string of unix seconds, or None when it is missing, not numeric or absurd."""
    if raw is None:
        return None
    try:
        return datetime.fromtimestamp(int(raw), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


class WaModel(BaseModel):
    """Base of every webhook model: immutable, keeps unknown fields, tolerates numbers where text is due."""

    model_config = ConfigDict(
        frozen=True,
        extra="allow",
        # Meta has sent ids such as system.new_wa_id as JSON numbers; a str field must not reject them.
        coerce_numbers_to_str=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class RawKeepingModel(WaModel):
    """A model that also keeps the exact mapping it was validated from, for audit and replay."""

    #: The input mapping as received: a field of our own, never dumped nor in the schema (Meta sends no key
    #: of this name).
    as_received: SkipJsonSchema[dict[str, Any]] = Field(default_factory=dict, exclude=True, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _keep_as_received(cls, data: Any) -> Any:
        if isinstance(data, dict):
            # A JSON-safe deep copy: later mutation of the caller's dict must not change our record.
            return {**data, "as_received": to_jsonable_python(data, by_alias=True)}
        return data

    @property
    def raw(self) -> dict[str, Any]:
        """The input mapping, verbatim (falls back to a dump of the set fields when built otherwise)."""
        if self.as_received:
            return self.as_received
        dumped: dict[str, Any] = self.model_dump(mode="json", exclude_unset=True)
        return dumped


# --- verification (GET /webhook) ------------------------------------------------------------------


class VerificationQuery(WaModel):
    """Query string of Meta's subscription check: ``hub.mode``, ``hub.verify_token``, ``hub.challenge``."""

    mode: str = Field(alias="hub.mode")
    verify_token: str = Field(alias="hub.verify_token")
    challenge: str = Field(alias="hub.challenge")

    def verify(self, expected_token: str) -> str | None:
        """The challenge to echo back when this is a valid subscription request, else None."""
        # Constant-time comparison: the verify token is a shared secret.
        token_ok = hmac.compare_digest(self.verify_token.encode(), expected_token.encode())
        return self.challenge if self.mode == "subscribe" and token_ok else None


# --- shared pieces --------------------------------------------------------------------------------


class ErrorData(WaModel):
    details: str | None = None

    @field_validator("details")
    @classmethod
    def _clean(cls, text: str | None) -> str | None:
        return clean(text)


class WhatsAppError(WaModel):
    """An error object, as found in ``value.errors``, ``statuses[].errors`` and ``messages[].errors``."""

    code: int | None = None
    title: str | None = None
    message: str | None = None
    error_data: ErrorData | None = None
    href: str | None = None

    # Meta's texts, but recorded (``ReplyDeliveryUpdated``, ``WhatsAppErrorReported``) and they may echo what a
    # customer sent: normalised as customer text is, or a NUL would have PostgreSQL refuse the update, retried
    # then parked.
    @field_validator("title", "message", "href")
    @classmethod
    def _clean(cls, text: str | None) -> str | None:
        return clean(text)


class Profile(WaModel):
    name: str | None = None
    username: str | None = None


class Contact(WaModel):
    """The WhatsApp user behind an update. ``wa_id`` is absent for some users with usernames."""

    profile: Profile | None = None
    wa_id: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None
    identity_key_hash: str | None = None


class Metadata(WaModel):
    display_phone_number: str | None = None
    phone_number_id: str


# --- messages -------------------------------------------------------------------------------------


class MessageType(StrEnum):
    """Documented message types; ``Message.type`` stays a str so new types still parse."""

    TEXT = "text"
    INTERACTIVE = "interactive"
    BUTTON = "button"
    LOCATION = "location"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    DOCUMENT = "document"
    STICKER = "sticker"
    REACTION = "reaction"
    CONTACTS = "contacts"
    SYSTEM = "system"
    ORDER = "order"
    REQUEST_WELCOME = "request_welcome"
    UNSUPPORTED = "unsupported"
    UNKNOWN = "unknown"  # what older API versions sent instead of "unsupported"


MEDIA_TYPES: frozenset[str] = frozenset({"image", "audio", "video", "document", "sticker"})


class Text(WaModel):
    body: str


class Media(WaModel):
    """image / audio / video / document / sticker: download it later by ``id``."""

    id: str | None = None
    mime_type: str | None = None
    sha256: str | None = None
    caption: str | None = None
    filename: str | None = None
    url: str | None = None
    voice: bool | None = None
    animated: bool | None = None


class Location(WaModel):
    latitude: float | None = None
    longitude: float | None = None
    name: str | None = None
    address: str | None = None
    url: str | None = None


class Reaction(WaModel):
    """A reaction to ``message_id``; ``emoji`` is absent (or empty) when the user removed the reaction."""

    message_id: str | None = None
    emoji: str | None = None

    @property
    def removed(self) -> bool:
        return not self.emoji


class ButtonReply(WaModel):
    id: str | None = None
    title: str | None = None


class ListReply(WaModel):
    id: str | None = None
    title: str | None = None
    description: str | None = None


class NfmReply(WaModel):
    """A WhatsApp Flow's reply: ``response_json`` is a JSON *string* chosen by the flow."""

    name: str | None = None
    body: str | None = None
    response_json: str | None = None

    def response_data(self) -> dict[str, Any] | None:
        """``response_json`` decoded, or None when absent or not a JSON object."""
        if self.response_json is None:
            return None
        try:
            decoded = json.loads(self.response_json)
        except ValueError:
            return None
        return decoded if isinstance(decoded, dict) else None


class Interactive(WaModel):
    type: str
    button_reply: ButtonReply | None = None
    list_reply: ListReply | None = None
    nfm_reply: NfmReply | None = None


class Button(WaModel):
    """A tap on a template's quick-reply button (message type ``button``)."""

    payload: str | None = None
    text: str | None = None


class ContactName(WaModel):
    formatted_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    middle_name: str | None = None
    suffix: str | None = None
    prefix: str | None = None


class ContactPhone(WaModel):
    phone: str | None = None
    wa_id: str | None = None
    type: str | None = None


class ContactEmail(WaModel):
    email: str | None = None
    type: str | None = None


class ContactAddress(WaModel):
    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    country_code: str | None = None
    type: str | None = None


class ContactOrg(WaModel):
    company: str | None = None
    department: str | None = None
    title: str | None = None


class ContactUrl(WaModel):
    url: str | None = None
    type: str | None = None


class SharedContact(WaModel):
    """A contact card the user shared (message type ``contacts``)."""

    name: ContactName | None = None
    phones: list[ContactPhone] = Field(default_factory=list)
    emails: list[ContactEmail] = Field(default_factory=list)
    addresses: list[ContactAddress] = Field(default_factory=list)
    org: ContactOrg | None = None
    urls: list[ContactUrl] = Field(default_factory=list)
    birthday: str | None = None


class System(WaModel):
    """A system notice, e.g. the user changed their number. System messages come with no ``contacts``."""

    body: str | None = None
    type: str | None = None
    customer: str | None = None
    new_wa_id: str | None = None
    wa_id: str | None = None
    user_id: str | None = None
    identity: str | None = None


class ProductItem(WaModel):
    product_retailer_id: str | None = None
    quantity: int | None = None
    item_price: float | None = None
    currency: str | None = None


class Order(WaModel):
    catalog_id: str | None = None
    text: str | None = None
    product_items: list[ProductItem] = Field(default_factory=list)


class Unsupported(WaModel):
    type: str | None = None


class ReferredProduct(WaModel):
    catalog_id: str | None = None
    product_retailer_id: str | None = None


class Context(WaModel):
    """What a message replies to, or where it was forwarded from."""

    from_: str | None = Field(default=None, alias="from")
    id: str | None = None
    forwarded: bool | None = None
    frequently_forwarded: bool | None = None
    referred_product: ReferredProduct | None = None


class WelcomeMessage(WaModel):
    text: str | None = None


class Referral(WaModel):
    """Click-to-WhatsApp ad (or post) that started the conversation."""

    source_url: str | None = None
    source_id: str | None = None
    source_type: str | None = None
    body: str | None = None
    headline: str | None = None
    media_type: str | None = None
    image_url: str | None = None
    video_url: str | None = None
    thumbnail_url: str | None = None
    ctwa_clid: str | None = None
    welcome_message: WelcomeMessage | None = None


class Message(RawKeepingModel):
    """One inbound message. One flat model for every type: the type-specific object sits under its name."""

    id: str
    type: str
    # Absent for users with usernames; the business-scoped user id then identifies them.
    from_: str | None = Field(default=None, alias="from")
    from_user_id: str | None = None
    timestamp: str | None = None
    context: Context | None = None
    referral: Referral | None = None
    errors: list[WhatsAppError] = Field(default_factory=list)

    text: Text | None = None
    interactive: Interactive | None = None
    button: Button | None = None
    location: Location | None = None
    image: Media | None = None
    audio: Media | None = None
    video: Media | None = None
    document: Media | None = None
    sticker: Media | None = None
    reaction: Reaction | None = None
    contacts: list[SharedContact] = Field(default_factory=list)
    system: System | None = None
    order: Order | None = None
    unsupported: Unsupported | None = None

    @property
    def known_type(self) -> MessageType | None:
        try:
            return MessageType(self.type)
        except ValueError:
            return None

    @property
    def occurred_at(self) -> datetime | None:
        return unix_seconds_to_datetime(self.timestamp)

    @property
    def media(self) -> Media | None:
        """The media object of an image/audio/video/document/sticker message, else None."""
        by_type = {
            "image": self.image,
            "audio": self.audio,
            "video": self.video,
            "document": self.document,
            "sticker": self.sticker,
        }
        return by_type.get(self.type)


# --- statuses -------------------------------------------------------------------------------------


class StatusKind(StrEnum):
    """Documented status values; ``Status.status`` stays a str so new values still parse."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"
    FAILED = "failed"
    DELETED = "deleted"
    WARNING = "warning"


class ConversationOrigin(WaModel):
    type: str | None = None


class Conversation(WaModel):
    id: str | None = None
    expiration_timestamp: str | None = None
    origin: ConversationOrigin | None = None


class Pricing(WaModel):
    billable: bool | None = None
    pricing_model: str | None = None
    category: str | None = None
    type: str | None = None


class Status(RawKeepingModel):
    """The delivery status of a message we sent (``id`` is our outbound wamid)."""

    id: str
    status: str
    timestamp: str | None = None
    recipient_id: str | None = None
    recipient_user_id: str | None = None
    recipient_parent_user_id: str | None = None
    biz_opaque_callback_data: str | None = None
    conversation: Conversation | None = None
    pricing: Pricing | None = None
    errors: list[WhatsAppError] = Field(default_factory=list)

    @property
    def known_status(self) -> StatusKind | None:
        try:
            return StatusKind(self.status)
        except ValueError:
            return None

    @property
    def occurred_at(self) -> datetime | None:
        return unix_seconds_to_datetime(self.timestamp)


# --- envelope -------------------------------------------------------------------------------------


def _contradicts(expected: str | None, actual: str | None) -> bool:
    return expected is not None and actual is not None and expected != actual


class Value(WaModel):
    """A change's value. All optional: other webhook fields (template updates, ...) share the envelope."""

    messaging_product: str | None = None
    metadata: Metadata | None = None
    contacts: list[Contact] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)
    statuses: list[Status] = Field(default_factory=list)
    errors: list[WhatsAppError] = Field(default_factory=list)

    @property
    def phone_number_id(self) -> str | None:
        return self.metadata.phone_number_id if self.metadata else None

    def contact_for(self, wa_id: str | None, user_id: str | None) -> Contact | None:
        """The contact matching a phone-number id or business-scoped user id."""
        for contact in self.contacts:
            if (wa_id is not None and contact.wa_id == wa_id) or (user_id is not None and contact.user_id == user_id):
                return contact
        # Meta sends one contact per update; when the ids on the update and the contact do not overlap
        # (a username user: no `from`, only `user_id` on the contact) the only contact is still the sender,
        # unless one of its ids says otherwise.
        if len(self.contacts) == 1:
            only = self.contacts[0]
            if not _contradicts(wa_id, only.wa_id) and not _contradicts(user_id, only.user_id):
                return only
        return None


class Change(WaModel):
    field: str
    value: Value


class Entry(WaModel):
    id: str
    changes: list[Change] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class UpdateOrigin:
    """Where in a payload an update was found."""

    entry_id: str
    field: str
    phone_number_id: str | None
    display_phone_number: str | None


@dataclass(frozen=True, slots=True)
class MessageItem:
    message: Message
    contact: Contact | None
    origin: UpdateOrigin

    @property
    def phone_number_id(self) -> str | None:
        return self.origin.phone_number_id


@dataclass(frozen=True, slots=True)
class StatusItem:
    status: Status
    contact: Contact | None
    origin: UpdateOrigin

    @property
    def phone_number_id(self) -> str | None:
        return self.origin.phone_number_id


@dataclass(frozen=True, slots=True)
class ErrorItem:
    error: WhatsAppError
    origin: UpdateOrigin

    @property
    def phone_number_id(self) -> str | None:
        return self.origin.phone_number_id


Update = MessageItem | StatusItem | ErrorItem


class WebhookPayload(WaModel):
    """The body of a webhook POST. One POST may batch many entries, changes, messages and statuses."""

    object: str
    entry: list[Entry] = Field(default_factory=list)

    def iter_updates(self) -> Iterator[Update]:
        """Every message, status and value-level error, in payload order (per change: messages,
        statuses, then errors)."""
        for entry in self.entry:
            for change in entry.changes:
                value = change.value
                origin = UpdateOrigin(
                    entry_id=entry.id,
                    field=change.field,
                    phone_number_id=value.phone_number_id,
                    display_phone_number=value.metadata.display_phone_number if value.metadata else None,
                )
                for message in value.messages:
                    contact = value.contact_for(message.from_, message.from_user_id)
                    yield MessageItem(message=message, contact=contact, origin=origin)
                for status in value.statuses:
                    contact = value.contact_for(status.recipient_id, status.recipient_user_id)
                    yield StatusItem(status=status, contact=contact, origin=origin)
                for error in value.errors:
                    yield ErrorItem(error=error, origin=origin)

    def iter_messages(self) -> Iterator[MessageItem]:
        return (u for u in self.iter_updates() if isinstance(u, MessageItem))

    def iter_statuses(self) -> Iterator[StatusItem]:
        return (u for u in self.iter_updates() if isinstance(u, StatusItem))

    def iter_errors(self) -> Iterator[ErrorItem]:
        return (u for u in self.iter_updates() if isinstance(u, ErrorItem))
