"""Outbound WhatsApp messages and the events that track them.

An :data:`OutboundMessage` is a text, a set of reply buttons or a list. The WhatsApp Cloud API limits
(1–3 buttons with titles of at most 20 characters and unique ids; lists with at most 10 rows in total, row
titles of at most 24 characters and descriptions of at most 72) are enforced by validation, so a message
the API would refuse cannot even be built. ``to_graph_api_payload(to)`` gives the exact JSON body of
``POST /{phone_number_id}/messages``.

Replies are events: the orchestrator appends :class:`ReplyQueued` on the customer's (or technician's) stream;
the sender records :class:`ReplySendAttempted` before calling the Graph API, then :class:`ReplySent` or
:class:`ReplyFailed`, on a stream of its own (:func:`sender_stream_id`); status webhooks become
:class:`ReplyDeliveryUpdated`. Stores written before the sender had its own stream hold ``ReplySent`` /
``ReplyFailed`` on the queuing stream itself: readers look in both places.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from contracts.events import Event

# Limits of the WhatsApp Cloud API (interactive messages reference, 2025).
MAX_TEXT_BODY = 4096
MAX_INTERACTIVE_BODY = 1024
MAX_HEADER = 60
MAX_FOOTER = 60
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_BUTTON_ID = 256
MAX_LIST_BUTTON = 20
MAX_LIST_ROWS = 10
MAX_LIST_SECTIONS = 10
MAX_SECTION_TITLE = 24
MAX_ROW_ID = 200
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72

_FROZEN = ConfigDict(frozen=True, extra="forbid")


def _envelope(to: str) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}


def _interactive_frame(header: str | None, body: str, footer: str | None) -> dict[str, Any]:
    frame: dict[str, Any] = {}
    if header is not None:
        frame["header"] = {"type": "text", "text": header}
    frame["body"] = {"text": body}
    if footer is not None:
        frame["footer"] = {"text": footer}
    return frame


class TextMessage(BaseModel):
    model_config = _FROZEN

    kind: Literal["text"] = "text"
    body: str = Field(min_length=1, max_length=MAX_TEXT_BODY)
    preview_url: bool = False

    @property
    def plain_text(self) -> str:
        return self.body

    def to_graph_api_payload(self, to: str) -> dict[str, Any]:
        return {**_envelope(to), "type": "text", "text": {"preview_url": self.preview_url, "body": self.body}}


class ReplyButton(BaseModel):
    model_config = _FROZEN

    id: str = Field(min_length=1, max_length=MAX_BUTTON_ID)
    title: str = Field(min_length=1, max_length=MAX_BUTTON_TITLE)


class ButtonsMessage(BaseModel):
    """Reply buttons: the customer taps one and we receive its ``id`` back."""

    model_config = _FROZEN

    kind: Literal["buttons"] = "buttons"
    body: str = Field(min_length=1, max_length=MAX_INTERACTIVE_BODY)
    buttons: tuple[ReplyButton, ...] = Field(min_length=1, max_length=MAX_BUTTONS)
    header: str | None = Field(default=None, min_length=1, max_length=MAX_HEADER)
    footer: str | None = Field(default=None, min_length=1, max_length=MAX_FOOTER)

    @model_validator(mode="after")
    def _unique(self) -> ButtonsMessage:
        # The API rejects duplicate ids and duplicate titles alike.
        if len({b.id for b in self.buttons}) != len(self.buttons):
            raise ValueError("button ids must be unique")
        if len({b.title for b in self.buttons}) != len(self.buttons):
            raise ValueError("button titles must be unique")
        return self

    @property
    def plain_text(self) -> str:
        return self.body + "\n" + " ".join(f"[{b.title}]" for b in self.buttons)

    def to_graph_api_payload(self, to: str) -> dict[str, Any]:
        interactive = {
            "type": "button",
            **_interactive_frame(self.header, self.body, self.footer),
            "action": {"buttons": [{"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in self.buttons]},
        }
        return {**_envelope(to), "type": "interactive", "interactive": interactive}


class ListRow(BaseModel):
    model_config = _FROZEN

    id: str = Field(min_length=1, max_length=MAX_ROW_ID)
    title: str = Field(min_length=1, max_length=MAX_ROW_TITLE)
    description: str | None = Field(default=None, min_length=1, max_length=MAX_ROW_DESCRIPTION)


class ListSection(BaseModel):
    model_config = _FROZEN

    title: str | None = Field(default=None, min_length=1, max_length=MAX_SECTION_TITLE)
    rows: tuple[ListRow, ...] = Field(min_length=1, max_length=MAX_LIST_ROWS)


class ListMessage(BaseModel):
    """A list: a button opens a menu of rows; we receive the tapped row's ``id`` back."""

    model_config = _FROZEN

    kind: Literal["list"] = "list"
    body: str = Field(min_length=1, max_length=MAX_INTERACTIVE_BODY)
    button: str = Field(min_length=1, max_length=MAX_LIST_BUTTON)
    sections: tuple[ListSection, ...] = Field(min_length=1, max_length=MAX_LIST_SECTIONS)
    header: str | None = Field(default=None, min_length=1, max_length=MAX_HEADER)
    footer: str | None = Field(default=None, min_length=1, max_length=MAX_FOOTER)

    @model_validator(mode="after")
    def _limits(self) -> ListMessage:
        rows = [row for section in self.sections for row in section.rows]
        if len(rows) > MAX_LIST_ROWS:
            raise ValueError(f"a list has at most {MAX_LIST_ROWS} rows in total, got {len(rows)}")
        if len({row.id for row in rows}) != len(rows):
            raise ValueError("row ids must be unique across the list")
        if len(self.sections) > 1 and any(s.title is None for s in self.sections):
            raise ValueError("every section needs a title when there is more than one")
        return self

    @property
    def plain_text(self) -> str:
        titles = [row.title for section in self.sections for row in section.rows]
        return self.body + "\n" + " ".join(f"[{t}]" for t in titles)

    def to_graph_api_payload(self, to: str) -> dict[str, Any]:
        sections: list[dict[str, Any]] = []
        for section in self.sections:
            rendered: dict[str, Any] = {}
            if section.title is not None:
                rendered["title"] = section.title
            rendered["rows"] = [
                {"id": r.id, "title": r.title, **({"description": r.description} if r.description else {})}
                for r in section.rows
            ]
            sections.append(rendered)
        interactive = {
            "type": "list",
            **_interactive_frame(self.header, self.body, self.footer),
            "action": {"button": self.button, "sections": sections},
        }
        return {**_envelope(to), "type": "interactive", "interactive": interactive}


OutboundMessage = Annotated[TextMessage | ButtonsMessage | ListMessage, Field(discriminator="kind")]

OUTBOUND_MESSAGE_ADAPTER: TypeAdapter[OutboundMessage] = TypeAdapter(OutboundMessage)


#: Meta's limit on ``biz_opaque_callback_data``.
MAX_CALLBACK_DATA = 512
_CALLBACK_PREFIX = "reply:"
SENDER_STREAM_PREFIX = "outbound-"


def to_graph_api_payload(message: OutboundMessage, to: str, *, callback_data: str | None = None) -> dict[str, Any]:
    """The JSON body of ``POST {WHATSAPP_API_BASE_URL}/{phone_number_id}/messages``.

    ``callback_data`` goes out as ``biz_opaque_callback_data``: Meta echoes it in every status webhook of
    that message."""
    payload = message.to_graph_api_payload(to)
    if callback_data is not None:
        if len(callback_data) > MAX_CALLBACK_DATA:
            raise ValueError(f"biz_opaque_callback_data is at most {MAX_CALLBACK_DATA} characters")
        payload["biz_opaque_callback_data"] = callback_data
    return payload


def reply_callback_data(reply_id: UUID) -> str:
    """What a send of this reply carries as ``biz_opaque_callback_data``."""
    return f"{_CALLBACK_PREFIX}{reply_id}"


def reply_id_from_callback_data(callback_data: str | None) -> UUID | None:
    """The reply a status webhook is about, from its echoed ``biz_opaque_callback_data`` (None when the
    message was not sent by our sender, or by a version that did not tag its sends)."""
    if callback_data is None or not callback_data.startswith(_CALLBACK_PREFIX):
        return None
    try:
        return UUID(callback_data.removeprefix(_CALLBACK_PREFIX))
    except ValueError:
        return None


def sender_stream_id(queued_on: str) -> str:
    """The sender's own stream for the replies queued on stream ``queued_on``: what it attempted, sent or
    failed. Derived from the queuing stream's id (never from a phone number), so a conversation's reader
    finds it, and the sender never competes with the orchestrator for the versions of a decision stream."""
    return f"{SENDER_STREAM_PREFIX}{queued_on}"


# --------------------------------------------------------------------------------------------- events


class RecipientRole(StrEnum):
    CUSTOMER = "customer"
    TECHNICIAN = "technician"


class DeliveryStatus(StrEnum):
    """WhatsApp status webhook values."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    PLAYED = "played"


class ReplyQueued(Event):
    """A reply decided by the orchestrator, waiting for the sender. ``text`` is the deterministic wording."""

    TYPE = "ReplyQueued"
    SCHEMA_VERSION = 1

    reply_id: UUID
    to: str = Field(min_length=1)
    recipient: RecipientRole
    provider_id: str | None = None
    lead_id: str | None = None
    #: Names what the reply is for (e.g. ``ask_urgency``), so rewording and tests need not parse text.
    purpose: str = Field(min_length=1)
    message: OutboundMessage
    #: The inbound wamid or command id that caused this reply.
    in_reply_to: str = Field(min_length=1)
    #: The operator who wrote it from the console (a handed-over conversation); absent for the bot's replies.
    written_by: str | None = Field(default=None, min_length=1, exclude_if=lambda value: value is None)


class ReplySent(Event):
    TYPE = "ReplySent"
    SCHEMA_VERSION = 1

    reply_id: UUID
    wamid: str = Field(min_length=1)
    sent_at: datetime
    attempts: int = Field(default=1, ge=1)
    #: True when the text was reworded (by the LLM) before sending.
    reworded: bool = False


class ReplyReworded(Event):
    """The sender asked for a warmer wording of a reply's body text: both texts and what came of it.

    Recorded with the send attempt, before the Graph API call. ``used`` says which text went out: the
    rewording only when it passed the fact check (``contracts.rewording``); the deterministic ``original``
    otherwise. The decision that queued the reply is untouched, so the audit never sees this."""

    TYPE = "ReplyReworded"
    SCHEMA_VERSION = 1

    reply_id: UUID
    original: str = Field(min_length=1)
    #: The rewording: as used, or as the model wrote it when refused (its phones, e-mails and RUTs then
    #: still masked); absent when there was none.
    reworded: str | None = None
    used: bool
    #: "ok", or why the original went out (the adapter's no-result reason, or "facts_changed").
    outcome: str = Field(min_length=1)
    #: The fact check's codes, or the adapter's short detail (never a personal value).
    detail: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    latency_ms: float = Field(default=0.0, ge=0)
    tokens: int = Field(default=0, ge=0)


class ReplyFailed(Event):
    TYPE = "ReplyFailed"
    SCHEMA_VERSION = 1

    reply_id: UUID
    failed_at: datetime
    #: WhatsApp error code (e.g. 131047 outside the 24-hour window) or None for a transport failure.
    error_code: int | None = None
    http_status: int | None = None
    reason: str
    #: True when retrying cannot help (the sender gave up at once); False when retries ran out.
    permanent: bool
    attempts: int = Field(default=1, ge=1)


class ReplySendAttempted(Event):
    """The sender is about to call the Graph API for this reply: recorded before the call, so a sender that
    stops mid-send knows after a restart that the message may be out."""

    TYPE = "ReplySendAttempted"
    SCHEMA_VERSION = 1

    reply_id: UUID
    #: 1 for the first send; a resend after an unconfirmed attempt is the next number.
    attempt: int = Field(ge=1)
    attempted_at: datetime


class Settlement(StrEnum):
    """How an attempt whose outcome was never recorded was settled."""

    #: A status webhook carrying the reply's id arrived: the message is out, it is not sent again.
    CONFIRMED_BY_STATUS = "confirmed_by_status"
    #: No such status within the window: it is sent again (as the next attempt).
    RESENT = "resent"


class ReplySendSettled(Event):
    """An attempt the sender started but never recorded the outcome of (it stopped mid-send), settled after
    a restart. With ``confirmed_by_status`` a ``ReplySent`` naming the status's wamid follows."""

    TYPE = "ReplySendSettled"
    SCHEMA_VERSION = 1

    reply_id: UUID
    attempt: int = Field(ge=1)
    settled_by: Settlement
    settled_at: datetime
    #: The wamid and status of the webhook that confirmed it (``confirmed_by_status`` only).
    wamid: str | None = None
    status: DeliveryStatus | None = None


class ReplyDeliveryUpdated(Event):
    TYPE = "ReplyDeliveryUpdated"
    SCHEMA_VERSION = 1

    wamid: str = Field(min_length=1)
    reply_id: UUID | None = None
    status: DeliveryStatus
    occurred_at: datetime
    error_code: int | None = None
    error_title: str | None = None
