"""The operator API's pure parts: a conversation's timeline, and page cursors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from contracts.events import Event, EventMetadata, RecordedEvent
from contracts.outbound import DeliveryStatus, ReplyDeliveryUpdated, ReplySent
from projections.operator_api.cursor import (
    InvalidCursor,
    decode_lead_cursor,
    decode_provider_cursor,
    encode,
    lead_cursor,
    provider_cursor,
)
from projections.operator_api.schemas import EntryKind
from projections.operator_api.timeline import build_timeline
from tests.unit.leads_flow_support import FIRST_MESSAGE, PEDRO, TAP_HOY, Scenario, customer_replies
from tests.unit.projectors_support import T0


def recorded(stream_id: str, events: list[Event], start: int = 1) -> list[RecordedEvent]:
    return [
        RecordedEvent(
            event_id=uuid.uuid4(), stream_id=stream_id, stream_version=i, type=e.TYPE,
            schema_version=e.SCHEMA_VERSION, data=e.model_dump(mode="json"),
            metadata=EventMetadata(correlation_id="c", recorded_at=T0), global_position=start + i,
            transaction_id=start + i,
        )
        for i, e in enumerate(events, start=1)
    ]


def test_a_timeline_shows_who_said_what_what_understood_it_and_what_was_decided_in_order() -> None:
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    s.customer(TAP_HOY)
    entries = build_timeline(recorded("customer-x", s.events))
    kinds = [(e.kind, e.actor) for e in entries]
    assert kinds[:2] == [(EntryKind.MESSAGE_IN, "customer"), (EntryKind.UNDERSTANDING, "rules")]
    assert (EntryKind.UNDERSTANDING, "interactive") in kinds
    assert entries[0].summary == "customer wrote: " + FIRST_MESSAGE.text  # type: ignore[operator]
    assert entries[1].summary.startswith("create_lead (0.95, accepted): service=Gasfiteria, comuna=Ñuñoa")
    assert any(e.summary == "conversation idle → collecting (lead_started)" for e in entries)
    assert [e.position for e in entries] == sorted(e.position for e in entries)


def test_delivery_statuses_name_the_reply_they_are_about() -> None:
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    reply = customer_replies(s.events)[0]
    sent = ReplySent(reply_id=reply.reply_id, wamid="wamid.OUT", sent_at=T0)
    read = ReplyDeliveryUpdated(wamid="wamid.OUT", status=DeliveryStatus.READ, occurred_at=T0)
    conversation = recorded("customer-x", [*s.events, sent])
    deliveries = recorded("deliveries-x", [read], start=100)
    entries = build_timeline(deliveries + conversation)  # any order in, global order out
    assert [e.kind for e in entries][-2:] == [EntryKind.SENT, EntryKind.DELIVERY]
    assert entries[-1].ref == str(reply.reply_id)
    assert entries[-1].summary == "WhatsApp reports read"


def test_an_event_type_the_timeline_does_not_know_is_still_shown() -> None:
    event = RecordedEvent(
        event_id=uuid.uuid4(), stream_id="customer-x", stream_version=1, type="SomethingNew", schema_version=3,
        data={"x": 1}, metadata=EventMetadata(correlation_id="c", recorded_at=datetime(2025, 1, 1, tzinfo=UTC)),
        global_position=1,
    )  # fmt: skip
    [entry] = build_timeline([event])
    assert (entry.kind, entry.summary, entry.data) == (EntryKind.DECISION, "SomethingNew", {"x": 1})


def test_cursors_round_trip() -> None:
    assert decode_lead_cursor(lead_cursor(T0, "abc.1")) == (T0, "abc.1")
    assert decode_provider_cursor(provider_cursor("p123")) == "p123"


@pytest.mark.parametrize(
    "forged",
    ["", "!!!", encode({"c": "yesterday", "l": "abc.1"}), encode({"c": T0.isoformat(), "l": "x\x00.1"}),
     encode({"c": "2025-01-01T00:00:00", "l": "abc.1"}), "WyJjIl0"],  # the last one is ["c"]
)  # fmt: skip
def test_a_forged_lead_cursor_is_refused(forged: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_lead_cursor(forged)


@pytest.mark.parametrize("forged", ["", encode({"p": "../etc"}), encode({"p": 3}), encode({"l": "abc.1"})])
def test_a_forged_provider_cursor_is_refused(forged: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_provider_cursor(forged)
