"""Access and portability against a real PostgreSQL: a customer's export holds every lead and message of
theirs, read through their key, and nothing of another customer served by the same technician; unknown and
forgotten phones get no document; every request is recorded without personal data."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from conectapro.data_export import export, requested_phone
from conectapro.erasure import forget
from conectapro.privacy_requests import privacy_requests
from contracts.outbound import DeliveryStatus, ReplyDeliveryUpdated
from contracts.privacy_events import PRIVACY_REQUESTS_STREAM, ExportOutcome
from eventstore import ANY_VERSION, PostgresEventStore
from orchestrator.decision_path import to_new_events
from orchestrator.domain.ids import deterministic_ids
from orchestrator.identity import deliveries_stream_id
from tests.integration.privacy_support import PeopleWorld, protected

pytestmark = pytest.mark.integration

CAMILA, MARISOL, PEDRO = "56911110001", "56911110002", "56987650003"
NAMES = {CAMILA: "Camila Rojas", MARISOL: "Marisol Quintanilla", PEDRO: "Pedro Soto"}
CAMILA_PROBLEM, MARISOL_PROBLEM = "se rompió la cañería del baño", "gotea el calefont de la cocina"
CAMILA_ADDRESS, MARISOL_ADDRESS = "irarrázaval 1234 depto 5", "los aromos 77 casa b"


async def request_a_gasfiter(world: PeopleWorld, phone: str, problem: str, address: str) -> None:
    await world.says(phone, f"hola, {problem}, estoy en ñuñoa")
    await world.taps(phone, "urgency:hoy", "Hoy")
    await world.says(phone, address)
    await world.taps(phone, "confirm:yes", "Sí, confirmo")


@pytest.fixture
async def world(store: PostgresEventStore) -> PeopleWorld:
    """Camila's job done and rated, Marisol's accepted: both by Pedro; every reply sent, some delivered."""
    world = PeopleWorld(store, protected(store), NAMES)
    await world.register("Pedro Soto", PEDRO)
    await request_a_gasfiter(world, CAMILA, CAMILA_PROBLEM, CAMILA_ADDRESS)
    await request_a_gasfiter(world, MARISOL, MARISOL_PROBLEM, MARISOL_ADDRESS)
    camila_lead = (await world.customer_stream_of(CAMILA)).removeprefix("customer-") + ".1"
    marisol_lead = (await world.customer_stream_of(MARISOL)).removeprefix("customer-") + ".1"
    await world.taps(PEDRO, f"offer:accept:{camila_lead}", "Aceptar")
    await world.taps(PEDRO, f"offer:accept:{marisol_lead}", "Aceptar")
    await world.taps(PEDRO, f"job:done:{camila_lead}", "Terminado")
    await world.taps(CAMILA, "rating:5", "5")
    await world.send_everything(on_sender_stream=True)
    return world


async def delivered(world: PeopleWorld, phone: str) -> str:
    """WhatsApp reports the first message sent to ``phone`` read; returns its text."""
    stream = await world.customer_stream_of(phone)
    [first, *_] = [e for e in await world.store.read_stream(stream)
                   if e.type == "ReplyQueued" and e.data["recipient"] == "customer"]  # fmt: skip
    [sent] = [e for e in await world.store.read_stream(f"outbound-{stream}") if e.type == "ReplySent"
              and e.data["reply_id"] == first.data["reply_id"]]  # fmt: skip
    update = ReplyDeliveryUpdated(wamid=sent.data["wamid"], status=DeliveryStatus.READ, occurred_at=world.now)
    events = to_new_events([update], cause="read", now=world.now, ids=deterministic_ids("read"))
    await world.store.append(deliveries_stream_id(stream.removeprefix("customer-")), ANY_VERSION, events)
    return str(first.data["message"]["body"])


async def test_an_export_holds_every_lead_and_message_of_the_person_and_nothing_of_anyone_else(
    world: PeopleWorld,
) -> None:
    first_reply = await delivered(world, CAMILA)
    done = await export(world.store, world.privacy, "+56 9 1111 0001", requested_by="cli", now=lambda: world.now)
    assert done.outcome == ExportOutcome.EXPORTED and done.document is not None
    document = done.document
    stream = await world.customer_stream_of(CAMILA)
    stored = await world.store.read_stream(stream)
    sent_in = [e.data["text"] or e.data["reply_id"] for e in stored
               if e.type == "MessageReceived" and e.data["role"] == "customer"]  # fmt: skip
    sent_out = [e.data["message"]["body"] for e in stored
                if e.type == "ReplyQueued" and e.data["recipient"] == "customer"]  # fmt: skip

    assert document["person"] == {"phone": CAMILA, "person_key": stream.removeprefix("customer-"),
                                  "whatsapp_names": ["Camila Rojas"]}  # fmt: skip
    [lead] = document["leads"]
    assert lead | {"created_at": None, "submitted_at": None, "completed_at": None, "rated_at": None} == {
        "lead_id": f"{stream.removeprefix('customer-')}.1", "status": "rated", "service": "Gasfiteria",
        "comuna": "Ñuñoa", "urgency": "hoy", "address": CAMILA_ADDRESS, "problem": lead["problem"],
        "consent_to_share_with_technician": True, "technician": {"id": lead["technician"]["id"], "name": "Pedro Soto"},
        "rating": 5, "created_at": None, "submitted_at": None, "completed_at": None, "rated_at": None,
    }  # fmt: skip
    assert "cañería" in lead["problem"]
    messages_in = [m for m in document["messages"] if m["direction"] == "in"]
    messages_out = [m for m in document["messages"] if m["direction"] == "out"]
    assert [m.get("text") or m.get("reply_id") for m in messages_in] == sent_in and len(sent_in) == 5
    assert [m["text"] for m in messages_out] == sent_out
    assert messages_in[0]["understood"]["by"] == "rules" and messages_in[0]["understood"]["comuna"] == "Ñuñoa"
    assert messages_out[0]["text"] == first_reply and messages_out[0]["delivery"] == "read"
    assert all(m["delivery"] in {"sent", "read"} for m in messages_out)
    assert document["counts"] == {"leads": 1, "messages_in": 5, "messages_out": len(sent_out), "handovers": 0}

    text = json.dumps(document, ensure_ascii=False)
    for other in (MARISOL, "Marisol", MARISOL_ADDRESS, MARISOL_PROBLEM, PEDRO, "job:done"):
        assert other not in text, other
    assert "[suprimido]" not in text  # opened with her key


async def test_unknown_and_forgotten_phones_get_no_document_and_every_request_is_recorded(
    world: PeopleWorld,
) -> None:
    unknown = await export(world.store, world.privacy, "56900000000", requested_by="ana", now=lambda: world.now)
    assert (unknown.outcome, unknown.document, unknown.person_key) == (ExportOutcome.NOT_KNOWN, None, None)
    await forget(world.store, world.privacy, None, MARISOL, requested_by="ana", force=True, now=lambda: world.now)
    after = await export(world.store, world.privacy, MARISOL, requested_by="ana", now=lambda: world.now)
    assert after.outcome == ExportOutcome.NOT_KNOWN
    camila = await export(world.store, world.privacy, CAMILA, requested_by="cli", now=lambda: world.now)
    assert camila.document is not None and camila.document["counts"]["leads"] == 1  # untouched by Marisol's

    requests = (await privacy_requests(world.store)).items
    assert [(r.kind, r.outcome, r.requested_by) for r in requests] == [
        ("export", "not_known", "ana"), ("erasure", "forgotten", "ana"), ("export", "not_known", "ana"),
        ("export", "exported", "cli"),
    ]  # fmt: skip
    assert requests[-1].request_id == camila.request_id and "1 leads, 5 messages in" in requests[-1].detail
    assert requests[0].detail.startswith("no document: the phone is not known")
    recorded = " ".join(str(e.data) for e in await world.store.read_stream(PRIVACY_REQUESTS_STREAM))
    for personal in (CAMILA, MARISOL, "Camila", "Marisol", CAMILA_ADDRESS):
        assert personal not in recorded


@pytest.mark.parametrize(
    ("given", "digits"),
    [("56987654321", "56987654321"), ("+56 9 8765 4321", "56987654321"), ("(56) 9-8765.4321", "56987654321"),
     ("", None), ("5698765", None), ("5698765432112345", None), ("56abc654321", None), ("٥٦٩٨٧٦٥٤٣٢١", None),
     ("56987654321; drop", None)],
)  # fmt: skip
def test_a_request_names_a_whatsapp_number_or_is_refused(given: str, digits: str | None) -> None:
    assert requested_phone(given) == digits


async def test_a_technician_s_export_holds_their_registration_and_own_messages_not_their_customers(
    world: PeopleWorld,
) -> None:
    marisol_lead = (await world.customer_stream_of(MARISOL)).removeprefix("customer-") + ".1"
    await world.taps(PEDRO, f"job:done:{marisol_lead}", "Terminado")
    await world.says(PEDRO, "hola")  # nothing pending: recorded on his own stream, and answered there
    await world.send_everything(on_sender_stream=True)
    done = await export(world.store, world.privacy, PEDRO, requested_by="cli", now=lambda: world.now)
    assert done.outcome == ExportOutcome.EXPORTED and done.document is not None
    technician = done.document["as_technician"]
    assert technician["profile"] | {"registered_at": None} == {
        "provider_id": technician["profile"]["provider_id"], "name": "Pedro Soto", "phone": PEDRO,
        "services": ["Gasfiteria"], "comunas": ["Ñuñoa"], "capacity": 2, "active": True, "registered_at": None,
    }  # fmt: skip
    [hello, answer] = technician["messages"]
    assert (hello["direction"], hello["text"], answer["direction"], answer["delivery"]) == ("in", "hola", "out", "sent")
    assert done.document["leads"] == [] and done.document["messages"] == []
    text = json.dumps(done.document, ensure_ascii=False)
    for customer in (CAMILA, MARISOL, "Camila", "Marisol", CAMILA_ADDRESS, MARISOL_ADDRESS, "cañería", "calefont"):
        assert customer not in text, customer


async def test_an_erasure_asked_on_whatsapp_shows_when_it_was_asked_and_when_answered(world: PeopleWorld) -> None:
    lucia = "56911110009"
    await world.says(lucia, "hola, necesito un gasfiter")
    await world.says(lucia, "borra mis datos")
    await world.taps(lucia, "erasure:yes", "Sí, borrar")
    asked = world.now
    world.advance(hours=2)  # the closer forgets after the goodbye is sent
    await forget(world.store, world.privacy, None, lucia, requested_by="customer (whatsapp)", force=False,
                 now=lambda: world.now)  # fmt: skip
    await forget(world.store, world.privacy, None, CAMILA, requested_by="ana", force=True, now=lambda: world.now)

    whatsapp, operator = (await privacy_requests(world.store)).items
    assert (whatsapp.requested_by, whatsapp.outcome, whatsapp.at) == ("customer (whatsapp)", "forgotten", world.now)
    assert asked - timedelta(minutes=1) <= whatsapp.asked_at < asked  # when the customer confirmed
    assert operator.asked_at == operator.at
