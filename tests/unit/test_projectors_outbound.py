"""The outbound read models: each reply from queued to sent or failed, and what WhatsApp says about it."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from contracts.outbound import DeliveryStatus, ReplyDeliveryUpdated, ReplyFailed, ReplyQueued, ReplySent
from orchestrator.identity import deliveries_stream_id
from projections.envelope import Item
from projections.readmodels.outbound import (
    DELIVERIES_PROJECTOR,
    OUTBOUND_PROJECTOR,
    DeliveryRow,
    OutboundRow,
)
from tests.unit.audit_support import customer_key
from tests.unit.leads_flow_support import CUSTOMER_PHONE, FIRST_MESSAGE, PEDRO, Scenario, customer_replies
from tests.unit.projectors_support import CUSTOMER_STREAM, T0, Log, customer_items, fold

DELIVERIES = deliveries_stream_id(customer_key(CUSTOMER_PHONE))


def first_reply() -> tuple[Log, list[Item], ReplyQueued]:
    """The bot's first reply to the sample conversation, as recorded."""
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    log = Log()
    items = customer_items(s.events, log)
    return log, items, customer_replies(s.events)[0]


def delivery(
    wamid: str, status: DeliveryStatus, minutes: int = 1, error_code: int | None = None, error_title: str | None = None
) -> ReplyDeliveryUpdated:
    return ReplyDeliveryUpdated(
        wamid=wamid, status=status, occurred_at=T0 + timedelta(minutes=minutes), error_code=error_code,
        error_title=error_title,
    )


def test_a_queued_reply_is_listed_with_its_text_and_purpose() -> None:
    _, items, reply = first_reply()
    row: OutboundRow = fold(OUTBOUND_PROJECTOR, items)[reply.reply_id]
    assert (row.status, row.recipient, row.purpose, row.to_phone, row.kind) == (
        "queued", "customer", "ask_urgency", CUSTOMER_PHONE, "buttons",
    )  # fmt: skip
    assert row.text is not None and row.text.startswith("¡Hola, Camila! Te ayudo a conseguir un gasfiter en Ñuñoa.")
    assert row.stream_id == CUSTOMER_STREAM and row.queued_at is not None


def test_a_sent_reply_carries_its_wamid_and_a_failed_one_its_error() -> None:
    log, items, reply = first_reply()
    sent = log.record(CUSTOMER_STREAM, [ReplySent(reply_id=reply.reply_id, wamid="wamid.OUT1", sent_at=T0, attempts=2)])
    row = fold(OUTBOUND_PROJECTOR, items + sent)[reply.reply_id]
    assert (row.status, row.wamid, row.attempts) == ("sent", "wamid.OUT1", 2)
    failed = log.record(CUSTOMER_STREAM, [ReplyFailed(
        reply_id=reply.reply_id, failed_at=T0, error_code=131047, http_status=400, reason="Re-engagement message",
        permanent=True,
    )])  # fmt: skip
    row = fold(OUTBOUND_PROJECTOR, items + failed)[reply.reply_id]
    assert (row.status, row.error_code, row.permanent, row.failure_reason) == (
        "failed", 131047, True, "Re-engagement message",
    )  # fmt: skip


def test_an_outcome_recorded_without_its_queued_reply_still_makes_a_row() -> None:
    reply_id = UUID(int=7)
    items = Log().record(CUSTOMER_STREAM, [ReplySent(reply_id=reply_id, wamid="wamid.X", sent_at=T0)])
    row = fold(OUTBOUND_PROJECTOR, items)[reply_id]
    assert (row.status, row.wamid, row.queued_at) == ("sent", "wamid.X", None)


def test_delivery_statuses_only_move_forward_whatever_order_they_arrive_in() -> None:
    log = Log()
    items = log.record(DELIVERIES, [
        delivery("wamid.OUT1", DeliveryStatus.READ, minutes=3),
        delivery("wamid.OUT1", DeliveryStatus.DELIVERED, minutes=2),
        delivery("wamid.OUT1", DeliveryStatus.SENT, minutes=1),
    ])  # fmt: skip
    row: DeliveryRow = fold(DELIVERIES_PROJECTOR, items)["wamid.OUT1"]
    assert (row.status, row.updates) == ("read", 3)
    assert (row.sent_at, row.delivered_at, row.read_at) == (
        T0 + timedelta(minutes=1), T0 + timedelta(minutes=2), T0 + timedelta(minutes=3),
    )  # fmt: skip


def test_a_failed_delivery_keeps_whatsapps_error() -> None:
    items = Log().record(DELIVERIES, [
        delivery("wamid.OUT1", DeliveryStatus.SENT),
        delivery("wamid.OUT1", DeliveryStatus.FAILED, error_code=131026, error_title="Message undeliverable"),
    ])  # fmt: skip
    row = fold(DELIVERIES_PROJECTOR, items)["wamid.OUT1"]
    assert (row.status, row.error_code, row.error_title) == ("failed", 131026, "Message undeliverable")


def test_a_status_reported_before_the_send_was_recorded_is_kept_for_it() -> None:
    log, items, reply = first_reply()
    early = log.record(DELIVERIES, [delivery("wamid.OUT1", DeliveryStatus.DELIVERED)])
    sent = log.record(CUSTOMER_STREAM, [ReplySent(reply_id=reply.reply_id, wamid="wamid.OUT1", sent_at=T0)])
    everything = items + early + sent
    # Each table has its own row; read_models.outbound_with_delivery joins them on the wamid.
    assert fold(OUTBOUND_PROJECTOR, everything)[reply.reply_id].wamid == "wamid.OUT1"
    assert fold(DELIVERIES_PROJECTOR, everything)["wamid.OUT1"].status == "delivered"
