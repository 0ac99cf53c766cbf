"""Read models ``read_models.outbound_messages`` and ``read_models.delivery_statuses``.

A reply is queued by the orchestrator (``ReplyQueued``), then sent or failed by the sender (``ReplySent`` /
``ReplyFailed``, on the sender's own stream, or on the queuing stream in stores written before the sender had
one: rows are keyed by reply id, so either place gives the same row). Meta's delivery statuses come later on
``deliveries-*`` streams and name the sent message by its wamid (and, when the send was tagged, by its reply
id), and they may be projected before the ``ReplySent`` that tells us that wamid.
So they are kept in a table of their own keyed by wamid, and ``read_models.outbound_with_delivery`` joins
the two: either order gives the same answer, and neither projector has to look at the other's rows.
"""

from __future__ import annotations

from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple
from uuid import UUID

from contracts.events import Event
from contracts.outbound import DeliveryStatus, RecipientRole, ReplyDeliveryUpdated, ReplyFailed, ReplyQueued, ReplySent
from contracts.provider_events import ProviderForgotten
from projections.envelope import EventContext
from projections.projector import Projector
from projections.readmodels.forgotten import (
    FORGOTTEN,
    TECHNICIAN_FORGOTTEN,
    blank,
    rows_of_streams,
    streams_of_technician,
)
from projections.table import Table

#: The text kept per message (a WhatsApp text may be 4,096 characters; operators need the gist).
MAX_TEXT = 1000


class ReplyState:
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class OutboundRow(NamedTuple):
    reply_id: UUID
    stream_id: str
    lead_id: str | None = None
    recipient: str | None = None
    provider_id: str | None = None
    to_phone: str | None = None
    purpose: str | None = None
    kind: str | None = None
    text: str | None = None
    in_reply_to: str | None = None
    status: str = ReplyState.QUEUED
    queued_at: datetime | None = None
    wamid: str | None = None
    sent_at: datetime | None = None
    attempts: int = 0
    reworded: bool = False
    failed_at: datetime | None = None
    error_code: int | None = None
    http_status: int | None = None
    failure_reason: str | None = None
    permanent: bool | None = None
    updated_at: datetime | None = None


OUTBOUND = Table(
    "read_models.outbound_messages",
    OutboundRow,
    {
        "reply_id": "uuid", "stream_id": "text", "lead_id": "text", "recipient": "text", "provider_id": "text",
        "to_phone": "text", "purpose": "text", "kind": "text", "text": "text", "in_reply_to": "text",
        "status": "text", "queued_at": "timestamptz", "wamid": "text", "sent_at": "timestamptz",
        "attempts": "integer", "reworded": "boolean", "failed_at": "timestamptz", "error_code": "integer",
        "http_status": "integer", "failure_reason": "text", "permanent": "boolean", "updated_at": "timestamptz",
    },
)  # fmt: skip


def evolve_outbound(row: OutboundRow | None, event: Event, ctx: EventContext) -> OutboundRow | None:
    if event.TYPE == FORGOTTEN:
        # Every reply of the person's streams, to them or about them (an offer's text quotes their address;
        # its recipient was sealed with their key): the technician's own data lives in other tables.
        if row is None:
            return None
        blanked = row._replace(to_phone=blank(row.to_phone), text=blank(row.text))
        return row if blanked == row else blanked
    if isinstance(event, ProviderForgotten):
        return None if row is None else _forget_technician(row, event)
    # The sender only records an outcome for a reply it read, so the ReplyQueued is always first; a row is
    # still started from an outcome alone rather than dropping what it says.
    current = row if row is not None else OutboundRow(getattr(event, "reply_id"), ctx.stream_id)  # noqa: B009
    match event:
        case ReplyQueued():
            if row is not None and row.queued_at is not None:
                return row
            text = event.message.plain_text
            return current._replace(
                lead_id=event.lead_id,
                recipient=event.recipient.value,
                provider_id=event.provider_id,
                to_phone=event.to,
                purpose=event.purpose,
                kind=event.message.kind,
                text=text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…",
                in_reply_to=event.in_reply_to,
                queued_at=ctx.recorded_at,
                updated_at=ctx.recorded_at,
            )
        case ReplySent():
            return current._replace(
                status=ReplyState.SENT, wamid=event.wamid, sent_at=event.sent_at, attempts=event.attempts,
                reworded=event.reworded, updated_at=ctx.recorded_at,
            )  # fmt: skip
        case ReplyFailed():
            return current._replace(
                status=ReplyState.FAILED, failed_at=event.failed_at, attempts=event.attempts,
                error_code=event.error_code, http_status=event.http_status, failure_reason=event.reason,
                permanent=event.permanent, updated_at=ctx.recorded_at,
            )  # fmt: skip
    return row


def _forget_technician(row: OutboundRow, event: ProviderForgotten) -> OutboundRow:
    """A forgotten technician's messages (their phone, and texts that name them) blanked: those sent to
    them, and those sent to customers about the leads they were offered (an assignment names them)."""
    to_them = row.provider_id == event.provider_id
    about_them = row.recipient == RecipientRole.CUSTOMER.value and row.lead_id in event.leads
    if not (to_them or about_them):
        return row
    blanked = row._replace(to_phone=blank(row.to_phone) if to_them else row.to_phone, text=blank(row.text))
    return row if blanked == row else blanked


def outbound_key(event: Event, _: EventContext) -> UUID | None:
    reply_id: UUID | None = getattr(event, "reply_id", None)
    return reply_id


OUTBOUND_PROJECTOR: Projector[UUID, OutboundRow] = Projector(
    OUTBOUND,
    frozenset({ReplyQueued.TYPE, ReplySent.TYPE, ReplyFailed.TYPE}),
    outbound_key,
    evolve_outbound,
    selects={FORGOTTEN: rows_of_streams("stream_id"), TECHNICIAN_FORGOTTEN: streams_of_technician("stream_id")},
)


# ----------------------------------------------------------------------------------- delivery statuses

#: Statuses only move forward: a late "delivered" after "read" (Meta does not promise order) changes nothing.
DELIVERY_RANK = MappingProxyType(
    {
        DeliveryStatus.SENT.value: 1,
        DeliveryStatus.DELIVERED.value: 2,
        DeliveryStatus.READ.value: 3,
        DeliveryStatus.PLAYED.value: 4,
        DeliveryStatus.FAILED.value: 5,
    }
)


class DeliveryRow(NamedTuple):
    wamid: str
    stream_id: str
    status: str
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    failed_at: datetime | None = None
    error_code: int | None = None
    error_title: str | None = None
    updates: int = 0
    updated_at: datetime | None = None


DELIVERIES = Table(
    "read_models.delivery_statuses",
    DeliveryRow,
    {
        "wamid": "text", "stream_id": "text", "status": "text", "sent_at": "timestamptz",
        "delivered_at": "timestamptz", "read_at": "timestamptz", "failed_at": "timestamptz",
        "error_code": "integer", "error_title": "text", "updates": "integer", "updated_at": "timestamptz",
    },
)  # fmt: skip

_WHEN_COLUMN = {
    DeliveryStatus.SENT: "sent_at",
    DeliveryStatus.DELIVERED: "delivered_at",
    DeliveryStatus.READ: "read_at",
    DeliveryStatus.PLAYED: "read_at",  # a voice note played has been read
    DeliveryStatus.FAILED: "failed_at",
}


def evolve_delivery(row: DeliveryRow | None, event: Event, ctx: EventContext) -> DeliveryRow | None:
    if not isinstance(event, ReplyDeliveryUpdated):
        return row
    current = row if row is not None else DeliveryRow(event.wamid, ctx.stream_id, event.status.value)
    status = event.status.value
    if row is not None and DELIVERY_RANK[status] < DELIVERY_RANK[row.status]:
        status = row.status
    changes: dict[str, Any] = {"status": status, "updates": current.updates + 1, "updated_at": ctx.recorded_at}
    when = _WHEN_COLUMN[event.status]
    if getattr(current, when) is None:  # the first report of a status is when it happened
        changes[when] = event.occurred_at
    if event.status is DeliveryStatus.FAILED:
        changes["error_code"] = event.error_code
        changes["error_title"] = event.error_title
    return current._replace(**changes)


def delivery_key(event: Event, _: EventContext) -> str | None:
    wamid: str | None = getattr(event, "wamid", None)
    return wamid


DELIVERIES_PROJECTOR: Projector[str, DeliveryRow] = Projector(
    DELIVERIES, frozenset({ReplyDeliveryUpdated.TYPE}), delivery_key, evolve_delivery
)
