"""Whole conversations through the real webhook, JetStream, orchestrator, event store and sender."""

from __future__ import annotations

from contracts.intent import Service
from contracts.outbound import sender_stream_id
from tests.e2e.pipeline import Pipeline, button_ids, text_of

CUSTOMER = "56911112222"
PEDRO = "56987654321"
ANA = "56955554444"


async def test_a_customer_gets_a_gasfiter_who_finishes_the_job_and_is_rated(pipeline: Pipeline) -> None:
    await pipeline.register("Pedro Soto", PEDRO, (Service.GASFITERIA,), ("Ñuñoa",))

    await pipeline.says(CUSTOMER, "hola, se me rompió la cañería del baño y está saliendo agua, estoy en ñuñoa")
    [ask_urgency] = await pipeline.outbox(CUSTOMER, 1)
    assert "gasfiter en Ñuñoa" in text_of(ask_urgency)

    await pipeline.taps(CUSTOMER, "urgency:hoy", "Hoy")
    await pipeline.outbox(CUSTOMER, 2)
    await pipeline.says(CUSTOMER, "irarrázaval 1234 depto 5")
    summary = (await pipeline.outbox(CUSTOMER, 3))[2]
    assert "irarrázaval 1234 depto 5" in text_of(summary).lower()

    await pipeline.taps(CUSTOMER, "confirm:yes", "Sí, confirmo")
    [offer] = await pipeline.outbox(PEDRO, 1)
    accept_id, _ = button_ids(offer)
    assert CUSTOMER not in text_of(offer)

    await pipeline.taps(PEDRO, accept_id, "Aceptar")
    customer_messages = await pipeline.outbox(CUSTOMER, 5)
    assert "Pedro Soto aceptó tu solicitud" in text_of(customer_messages[4])
    technician_messages = await pipeline.outbox(PEDRO, 2)
    assert "irarrázaval 1234 depto 5" in text_of(technician_messages[1]).lower()

    await pipeline.says(PEDRO, "terminado")
    rating_question = (await pipeline.outbox(CUSTOMER, 6))[5]
    assert rating_question["type"] == "interactive"

    await pipeline.taps(CUSTOMER, "rating:5", "5")
    await pipeline.outbox(CUSTOMER, 7)
    await pipeline.replies_all_sent()
    stream_id = await pipeline.customer_stream(CUSTOMER)
    types = [event.type for event in await pipeline.store.read_stream(stream_id)]
    sender_types = [event.type for event in await pipeline.store.read_stream(sender_stream_id(stream_id))]
    assert not {"ReplySendAttempted", "ReplySent", "ReplyFailed"} & set(types)  # the sender keeps to its stream
    assert sender_types.count("ReplySent") == sender_types.count("ReplySendAttempted") == types.count("ReplyQueued")
    assert [t for t in types if t in {"LeadSubmitted", "LeadAssigned", "JobCompleted", "LeadRated"}] == [
        "LeadSubmitted",
        "LeadAssigned",
        "JobCompleted",
        "LeadRated",
    ]
    delivered = len(pipeline.sandbox.messages(to=CUSTOMER)) + len(pipeline.sandbox.messages(to=PEDRO))
    assert types.count("ReplyQueued") == delivered  # every reply was sent once, none twice


async def test_a_technician_declines_and_another_one_accepts(pipeline: Pipeline) -> None:
    await pipeline.register("Pedro Soto", PEDRO, (Service.ELECTRICIDAD,), ("Macul",))
    await pipeline.register("Ana Rojas", ANA, (Service.ELECTRICIDAD,), ("Macul",))

    await pipeline.says(CUSTOMER, "necesito un electricista hoy en macul, se saltó el automático")
    await pipeline.outbox(CUSTOMER, 1)
    await pipeline.says(CUSTOMER, "av. macul 3456")
    await pipeline.outbox(CUSTOMER, 2)
    await pipeline.taps(CUSTOMER, "confirm:yes", "Sí, confirmo")
    await pipeline.outbox(CUSTOMER, 3)

    first_offered, offer = await pipeline.offer((PEDRO, ANA))
    second = ANA if first_offered == PEDRO else PEDRO
    _, decline_id = button_ids(offer)
    await pipeline.taps(first_offered, decline_id, "Rechazar")

    [second_offer] = await pipeline.outbox(second, 1)
    accept_id, _ = button_ids(second_offer)
    await pipeline.taps(second, accept_id, "Aceptar")

    assigned = (await pipeline.outbox(CUSTOMER, 4))[3]
    assert "aceptó tu solicitud" in text_of(assigned)
