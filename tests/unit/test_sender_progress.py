"""The sender's bookkeeping of one reply: tagging its sends, its stream, and where an attempt stands."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts.inbound import InboundStatus, normalize
from contracts.outbound import (
    ReplyFailed,
    ReplySendAttempted,
    ReplySent,
    TextMessage,
    reply_callback_data,
    reply_id_from_callback_data,
    sender_stream_id,
    to_graph_api_payload,
)
from contracts.whatsapp import WebhookPayload
from devtools.graph_sandbox_statuses import status_payload
from infra.settings import Settings
from outbound.progress import ReplyProgress, reply_progress

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
REPLY = uuid.UUID("8a0c7d2e-4b1f-4a57-9e53-2f4d6c1b0a99")
OTHER = uuid.UUID("11111111-2222-4333-8444-555555555555")


@given(st.uuids())
def test_a_reply_id_survives_the_round_trip_through_meta(reply_id: uuid.UUID) -> None:
    assert reply_id_from_callback_data(reply_callback_data(reply_id)) == reply_id


@pytest.mark.parametrize("foreign", [None, "", "campaign-7", "reply:", "reply:not-a-uuid", str(REPLY)])
def test_callback_data_written_by_someone_else_names_no_reply(foreign: str | None) -> None:
    assert reply_id_from_callback_data(foreign) is None


def test_a_tagged_send_carries_its_callback_data_and_an_untagged_one_none() -> None:
    message = TextMessage(body="Hola")
    tagged = to_graph_api_payload(message, "56911112222", callback_data=reply_callback_data(REPLY))
    assert tagged["biz_opaque_callback_data"] == f"reply:{REPLY}"
    assert "biz_opaque_callback_data" not in to_graph_api_payload(message, "56911112222")
    with pytest.raises(ValueError, match="512"):
        to_graph_api_payload(message, "56911112222", callback_data="x" * 513)


def test_the_senders_stream_is_named_after_the_queuing_stream_not_a_phone() -> None:
    assert sender_stream_id("customer-c0123456789abcdef") == "outbound-customer-c0123456789abcdef"


def attempt(n: int, at: datetime, reply_id: uuid.UUID = REPLY) -> ReplySendAttempted:
    return ReplySendAttempted(reply_id=reply_id, attempt=n, attempted_at=at)


def test_nothing_recorded_is_nothing_attempted() -> None:
    assert reply_progress([], REPLY) == ReplyProgress()
    assert not ReplyProgress().unconfirmed


def test_an_attempt_without_outcome_is_unconfirmed_until_sent_or_failed() -> None:
    started = reply_progress([attempt(1, T0), attempt(1, T0, OTHER)], REPLY)
    assert started == ReplyProgress(1, T0, recorded=False)
    assert started.unconfirmed

    sent = ReplySent(reply_id=REPLY, wamid="wamid.X", sent_at=T0)
    assert not reply_progress([attempt(1, T0), sent], REPLY).unconfirmed
    failed = ReplyFailed(reply_id=REPLY, failed_at=T0, reason="131047", permanent=True)
    assert not reply_progress([attempt(1, T0), failed], REPLY).unconfirmed
    # The outcome of another reply settles nothing here.
    assert reply_progress([attempt(1, T0), sent.model_copy(update={"reply_id": OTHER})], REPLY).unconfirmed


def test_a_resend_is_unconfirmed_again_and_its_window_starts_over() -> None:
    later = T0 + timedelta(seconds=61)
    progress = reply_progress([attempt(1, T0), attempt(2, later)], REPLY)
    assert progress == ReplyProgress(2, later, recorded=False)
    window = timedelta(seconds=60)
    assert not progress.resend_due(later + timedelta(seconds=59), window)
    assert progress.resend_due(later + window, window)


def test_the_resend_window_is_a_validated_setting() -> None:
    assert Settings().sender_unconfirmed_resend_seconds == 60.0
    assert Settings(sender_unconfirmed_resend_seconds=5).sender_unconfirmed_resend_seconds == 5.0
    for bad in (0, 0.5, -1, 86_401, "soon"):
        with pytest.raises(ValidationError):
            Settings(sender_unconfirmed_resend_seconds=bad)


def test_the_sandboxs_status_webhook_echoes_the_callback_data_and_parses_back_to_the_reply() -> None:
    payload = to_graph_api_payload(TextMessage(body="Hola"), "56911112222", callback_data=reply_callback_data(REPLY))
    record = {"wamid": "wamid.S1", "wa_id": "56911112222", "phone_number_id": "100000000000001", "payload": payload}
    webhook = status_payload(record, "delivered", timestamp=1_760_000_000)

    [status] = normalize(WebhookPayload.model_validate(webhook))
    assert isinstance(status, InboundStatus)
    assert (status.wamid, status.status, status.recipient_id) == ("wamid.S1", "delivered", "56911112222")
    assert reply_id_from_callback_data(status.biz_opaque_callback_data) == REPLY
    untagged = {**record, "payload": to_graph_api_payload(TextMessage(body="Hola"), "56911112222")}
    [item] = status_payload(untagged, "sent", timestamp=0)["entry"][0]["changes"][0]["value"]["statuses"]
    assert "biz_opaque_callback_data" not in item
