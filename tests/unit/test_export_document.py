"""The export document as a pure function of stored events: what is a person's and what is left out."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conectapro.export_document import build_export
from contracts.events import EventMetadata, RecordedEvent

pytestmark = pytest.mark.unit

T0 = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
STREAM = "customer-pabc"
_positions = itertools.count(1)


def stored(event_type: str, stream: str = STREAM, **data: Any) -> RecordedEvent:
    position = next(_positions)
    at = T0 + timedelta(minutes=position)
    return RecordedEvent(
        event_id=uuid.uuid4(), stream_id=stream, stream_version=position, type=event_type, schema_version=1,
        data=data, metadata=EventMetadata(correlation_id="c", recorded_at=at), global_position=position,
    )  # fmt: skip


def received(wamid: str, role: str, text: str, **more: Any) -> RecordedEvent:
    return stored("MessageReceived", wamid=wamid, role=role, phone="56911110001", text=text, message_type="text",
                  received_at=T0.isoformat(), **more)  # fmt: skip


def queued(reply_id: str, recipient: str, body: str, **more: Any) -> RecordedEvent:
    return stored("ReplyQueued", reply_id=reply_id, recipient=recipient, to="569", purpose="p",
                  message={"kind": "text", "body": body}, in_reply_to="w", **more)  # fmt: skip


def test_messages_understanding_hand_overs_and_a_cancelled_lead() -> None:
    events = [
        received("w1", "customer", "hola, gotea la llave, estoy en macul", profile_name="Rosa"),
        stored("IntentExtracted", wamid="w1", source="llm", accepted=True, model="gpt-x",
               intent={"intent": "create_lead", "service": "Gasfiteria", "comuna": "Macul", "confidence": 0.9},
               llm={"outcome": "ok", "model": "gpt-x", "proposed": {"comuna": "Macul", "urgency": None},
                    "dropped": {"address": "not written by the customer"}}),
        stored("LeadDrafted", lead_id="pabc.1", customer_key="pabc", phone="569", drafted_at=T0.isoformat()),
        stored("LeadFieldsCaptured", lead_id="pabc.1", fields={"service": "Gasfiteria", "comuna": "Macul"}),
        queued("r1", "customer", "¿Qué tan urgente es?"),
        stored("ReplyFailed", stream="outbound-customer-pabc", reply_id="r1", reason="131026 undeliverable"),
        received("w2", "technician", "voy en camino"),  # the technician's, in the customer's stream
        queued("r2", "technician", "Oferta: Gasfitería · Macul"),
        received("w3", "customer", "quiero hablar con una persona"),
        stored("ConversationHandedOver", reason="asked_for_a_person", handed_over_at=T0.isoformat()),
        stored("ConversationTaken", by="ana", taken_at=T0.isoformat()),
        queued("r3", "customer", "Hola, soy Ana", written_by="ana"),
        stored("SomethingNewer", lead_id="pabc.1"),  # a type this code does not know
        stored("LeadCancelled", lead_id="pabc.1", previous_status="draft", cancelled_at=T0.isoformat()),
    ]  # fmt: skip
    document = build_export(reversed(events), phone="56911110001", person_key="pabc", generated_at=T0)

    assert document["person"]["whatsapp_names"] == ["Rosa"]
    assert [(m["direction"], m["text"]) for m in document["messages"]] == [
        ("in", "hola, gotea la llave, estoy en macul"), ("out", "¿Qué tan urgente es?"),
        ("in", "quiero hablar con una persona"), ("out", "Hola, soy Ana"),
    ]  # fmt: skip
    understood = document["messages"][0]["understood"]
    assert (understood["by"], understood["comuna"], understood["model"]) == ("llm", "Macul", "gpt-x")
    assert understood["language_model"]["dropped"] == {"address": "not written by the customer"}
    assert document["messages"][1]["delivery"] == "not sent" and "undeliverable" in document["messages"][1]["reason"]
    assert document["messages"][3]["written_by"] == "a person" and "ana" not in str(document["handovers"])
    assert document["handovers"] == [{"at": "2026-12-02T12:00:00-03:00", "reason": "asked_for_a_person",
                                      "taken_by_a_person_at": "2026-12-02T12:00:00-03:00"}]  # fmt: skip
    [lead] = document["leads"]
    assert (lead["status"], lead["comuna"], lead["address"], lead["end_reason"]) == (
        "cancelled", "Macul", None, "cancelled while draft")
    assert document["counts"] == {"leads": 1, "messages_in": 2, "messages_out": 2, "handovers": 1}
    assert "voy en camino" not in str(document) and "Oferta" not in str(document)
    assert "as_technician" not in document


def test_a_technician_s_registration_follows_its_changes() -> None:
    provider = "provider-p1"
    events = [
        stored("ProviderRegistered", provider, provider_id="p1", name="Juana", phone="56933334444",
               services=["Gasfiteria"], comunas=["Macul"], capacity=2, active=True, registered_at=T0.isoformat()),
        stored("ProviderUpdated", provider, provider_id="p1", comunas=["Macul", "Ñuñoa"], name=None),
        stored("ProviderDeactivated", provider, provider_id="p1", deactivated_at=T0.isoformat()),
        received("w9", "technician", "hola"),
    ]  # fmt: skip
    document = build_export([], phone="56933334444", person_key=None, generated_at=T0, technician_events=events)
    profile = document["as_technician"]["profile"]
    assert (profile["name"], profile["comunas"], profile["active"]) == ("Juana", ["Macul", "Ñuñoa"], False)
    assert [m["text"] for m in document["as_technician"]["messages"]] == ["hola"]
    assert document["counts"]["messages_in"] == 1 and document["leads"] == []
