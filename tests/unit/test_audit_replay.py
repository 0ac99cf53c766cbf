"""`conectapro replay`: a stream as a timeline an operator can read, phones masked unless asked for."""

from __future__ import annotations

from audit.replay import load_timeline, mask_phones, render_timeline
from contracts.commands import HandleCustomerMessage, Understanding
from contracts.intent import Intent, IntentName, UnderstandingSource
from contracts.outbound import DeliveryStatus, ReplyFailed, ReplyQueued
from eventstore import ANY_VERSION
from orchestrator import leads_flow
from orchestrator.decision_path import to_new_events
from tests.unit.audit_support import CAMILA, PEDRO, T0, World, customer_key, customer_stream, delivered, full_journey


async def timeline_of(world: World, phone: str = CAMILA, *, show_phones: bool = False) -> str:
    return render_timeline(await load_timeline(world.store, customer_stream(phone)), show_phones=show_phones)


async def test_the_timeline_tells_who_said_what_what_was_understood_and_what_was_decided() -> None:
    world = World()
    await full_journey(world)
    text = await timeline_of(world)
    assert text.startswith(f"{customer_stream(CAMILA)} · ")
    assert '2025-03-03 12:00:00  CUSTOMER Camila (569*****321) wrote "hola, se me rompió la cañería' in text
    assert "understood by rules: create_lead · service=Gasfiteria · comuna=Ñuñoa" in text
    assert "tapped [Hoy] (urgency:hoy)" in text
    assert "conversation: idle → collecting (lead_started)" in text
    assert "reply → customer (569*****321) [ask_urgency]:" in text
    assert "matching #2 for Gasfiteria in Ñuñoa → " in text
    assert "not eligible: already passed on this lead" in text
    assert "TIMER TimeoutOffer from the closer" in text
    assert "rated 5/5 for " in text


async def test_each_reply_shows_when_it_was_sent_and_what_whatsapp_reported() -> None:
    world = World()
    await world.says(CAMILA, "hola, se me rompió la cañería, estoy en ñuñoa")
    await world.send_everything()
    await delivered(world, "wamid.OUT00001", DeliveryStatus.DELIVERED, DeliveryStatus.READ)
    text = await timeline_of(world)
    assert "    sent 12:01:00 as wamid.OUT00001 · delivered 12:01:00 · read 12:01:00" in text


async def test_a_reply_not_sent_yet_and_a_failed_one_say_so() -> None:
    world = World()
    await world.says(CAMILA, "hola, se me rompió la cañería, estoy en ñuñoa")
    assert "    not sent (yet)" in await timeline_of(world)
    [queued] = [e.to_event() for e in await world.stream(CAMILA) if e.type == ReplyQueued.TYPE]
    assert isinstance(queued, ReplyQueued)
    failed = ReplyFailed(reply_id=queued.reply_id, failed_at=world.now, error_code=131047,
                         reason="Re-engagement message", permanent=True)  # fmt: skip
    cause = f"reply:{queued.reply_id}"
    events = to_new_events([failed], cause=cause, now=world.now, ids=leads_flow.deterministic_ids(cause))
    await world.store.append(customer_stream(CAMILA), ANY_VERSION, events, inbox_id=cause)
    assert '    FAILED 12:01:00 permanently code 131047: "Re-engagement message"' in await timeline_of(world)


async def test_phone_numbers_are_masked_unless_the_operator_asks_for_them() -> None:
    world = World()
    await full_journey(world)
    masked = await timeline_of(world)
    assert CAMILA not in masked and PEDRO not in masked
    assert "+56 9 1111 2222" not in masked  # the formatted number in "te contactará al ..."
    shown = await timeline_of(world, show_phones=True)
    assert f"({CAMILA})" in shown and "+56 9 1111 2222" in shown


async def test_what_the_llm_understood_shows_its_model_prompt_and_cost() -> None:
    world = World()
    understanding = Understanding(
        intent=Intent(intent=IntentName.CREATE_LEAD, comuna="Ñuñoa", confidence=0.91),
        source=UnderstandingSource.LLM, text="oiga se me llueve el techo po, vivo en ñuñoa",
        raw_output='{"intent":"create_lead","comuna":"Ñuñoa","confidence":0.91}', model="gpt-4o-mini",
        prompt_version="intent-v3", latency_ms=812.4, tokens=356,
    )  # fmt: skip
    command = HandleCustomerMessage(command_id="wamid.L1", customer_key=customer_key(CAMILA), phone=CAMILA,
                                    wamid="wamid.L1", received_at=T0, understanding=understanding)  # fmt: skip
    events = leads_flow.decide(leads_flow.INITIAL_STATE, command, providers={}, now=T0,
                               new_ids=leads_flow.deterministic_ids("wamid.L1"))  # fmt: skip
    new = to_new_events(events, cause="wamid.L1", now=T0, ids=leads_flow.deterministic_ids("wamid.L1/events"))
    await world.store.append(customer_stream(CAMILA), 0, new, inbox_id="wamid.L1")
    text = await timeline_of(world)
    assert "understood by llm (model gpt-4o-mini, prompt intent-v3, 812 ms, 356 tokens): create_lead" in text
    assert 'raw model output: "{"intent":"create_lead","comuna":"Ñuñoa","confidence":0.91}"' in text


async def test_an_empty_stream_says_so() -> None:
    world = World()
    assert await timeline_of(world) == f"{customer_stream(CAMILA)}: no events"


def test_phones_are_masked_however_they_are_written() -> None:
    assert mask_phones("llama al +56 9 1111 2222 o al 56911112222") == "llama al 569*****222 o al 569*****222"
    assert mask_phones("irarrázaval 1234 depto 5, wamid.T00001") == "irarrázaval 1234 depto 5, wamid.T00001"
