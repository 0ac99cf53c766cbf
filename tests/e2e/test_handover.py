"""A customer asks for a person: an agent takes the conversation from the operator API, writes, the customer
receives it in the Graph API sandbox, the agent hands it back and the bot resumes where the flow was."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from audit.runner import audit_stream
from contracts.operator_events import OperatorRole
from infra.clock import utc_now
from projections.operator_api.operator_account_store import OperatorAccountStore
from tests.e2e.pipeline import Pipeline, text_of
from tests.whatsapp_builders import text_message

CUSTOMER = "56911112222"


async def says_now(pipeline: Pipeline, text: str) -> None:
    # Stamped now, as WhatsApp stamps it: the 24-hour window is counted from the customer's last message.
    await pipeline.post(text_message(pipeline.next_wamid(), CUSTOMER, text, timestamp=int(time.time())))


async def queue_holds(pipeline: Pipeline, customer_id: str, timeout: float = 15.0) -> dict[str, Any]:
    """The queue's entry of ``customer_id`` once the read model shows it (it trails the store a moment)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        pipeline.check_services()
        items = (await pipeline.operator_api.get("/v1/handovers")).json()["items"]
        for item in items:
            if item["customer_id"] == customer_id:
                return dict(item)
        await asyncio.sleep(0.05)
    raise AssertionError(f"{customer_id} never reached the queue")


async def test_an_agent_answers_a_customer_who_asked_for_a_person_and_the_bot_resumes(pipeline: Pipeline) -> None:
    await OperatorAccountStore(pipeline.store, clock=utc_now).add("ana", OperatorRole.AGENT, "ana-password-1", by="cli")

    await says_now(pipeline, "hola, se me rompió la cañería del baño, estoy en ñuñoa")
    [ask_urgency] = await pipeline.outbox(CUSTOMER, 1)
    key = await pipeline.person(CUSTOMER)
    await says_now(pipeline, "quiero hablar con una persona")
    told = (await pipeline.outbox(CUSTOMER, 2))[1]
    assert "persona del equipo" in text_of(told)

    waiting = await queue_holds(pipeline, key)
    assert waiting["taken_by"] is None and waiting["resume_at"] == "collecting"
    await says_now(pipeline, "¿hola? ¿hay alguien?")  # recorded, and the bot stays silent

    taken = await pipeline.operator_api.post(f"/v1/conversations/{key}/take", json={"operator": "ana"})
    assert taken.status_code == 200, taken.text
    written = await pipeline.operator_api.post(
        f"/v1/conversations/{key}/messages",
        json={"operator": "ana", "text": "Hola, soy Ana de ConectaPro. ¿En qué te ayudo?"},
    )
    assert written.status_code == 200, written.text
    from_ana = (await pipeline.outbox(CUSTOMER, 3))[2]
    assert text_of(from_ana) == "Hola, soy Ana de ConectaPro. ¿En qué te ayudo?"

    back = await pipeline.operator_api.post(f"/v1/conversations/{key}/hand-back", json={"operator": "ana"})
    assert back.status_code == 200 and back.json()["state"] == "collecting"
    resumed = (await pipeline.outbox(CUSTOMER, 4))[3]
    assert text_of(resumed).startswith("Te vuelve a atender el asistente automático")
    assert text_of(ask_urgency).split("?")[0].split("¿")[-1] in text_of(resumed)  # the same pending question

    await pipeline.taps(CUSTOMER, "urgency:hoy", "Hoy")
    ask_address = (await pipeline.outbox(CUSTOMER, 5))[4]
    assert "dirección" in text_of(ask_address)
    await pipeline.replies_all_sent()
    assert len(pipeline.sandbox.messages(to=CUSTOMER)) == 5  # nothing answered the message sent meanwhile
    assert (await audit_stream(pipeline.store, f"customer-{key}")).clean
