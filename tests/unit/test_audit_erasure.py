"""The audit re-decides a customer's WhatsApp erasure request like any decision (from the recorded text and
taps), and replay shows it."""

from __future__ import annotations

from audit.engine import audit_events
from audit.replay import load_timeline, render_timeline
from contracts.events import RecordedEvent
from tests.unit.audit_support import CAMILA, World, customer_stream, offered_to_juana, tampered


async def asked_withdrawn_refused_and_confirmed(world: World) -> list[RecordedEvent]:
    await offered_to_juana(world)
    await world.says(CAMILA, "quiero que borren mis datos")  # refused: a technician holds the offer
    await world.taps(CAMILA, "consent:yes", "Sí, cancelar")  # the cancellation asked first
    await world.says(CAMILA, "cancelar")
    await world.taps(CAMILA, "consent:yes", "Sí, cancelar")
    await world.says(CAMILA, "borra mis datos")
    await world.taps(CAMILA, "erasure:no", "No")
    await world.says(CAMILA, "elimina mi información porfa")
    await world.says(CAMILA, "sí")
    await world.says(CAMILA, "hola?")  # after the goodbye: recorded, not answered
    await world.send_everything(on_sender_stream=True)
    return await world.events()


async def test_an_erasure_asked_refused_withdrawn_and_confirmed_audits_clean() -> None:
    events = await asked_withdrawn_refused_and_confirmed(World())
    report = audit_events(events)
    assert report.clean, report.render()
    camila = [e for e in events if e.stream_id == customer_stream(CAMILA)]
    types = [e.type for e in camila]
    assert types.count("ErasureRefused") == 1 and types.count("ErasureRequested") == 1
    queued = [e for e in camila if e.type == "ReplyQueued"]
    assert queued[-1].data["purpose"] == "erasure_goodbye"
    requested = next(e for e in camila if e.type == "ErasureRequested")
    assert requested.data["goodbye_reply_id"] == queued[-1].data["reply_id"]


async def test_a_changed_goodbye_is_reported_at_the_confirmation() -> None:
    events = await asked_withdrawn_refused_and_confirmed(World())
    i = next(i for i, e in enumerate(events) if e.type == "ErasureRequested")
    other = "00000000-0000-0000-0000-000000000000"
    report = audit_events(tampered(events, i, data={**events[i].data, "goodbye_reply_id": other}))
    [divergence] = report.divergences[customer_stream(CAMILA)]
    assert "ErasureRequested.goodbye_reply_id" in " ".join(divergence.lines)


async def test_replay_shows_the_request_its_refusal_and_its_confirmation() -> None:
    world = World()
    await asked_withdrawn_refused_and_confirmed(world)
    text = render_timeline(await load_timeline(world.store, customer_stream(CAMILA)))
    assert "erasure asked for, refused (job_in_progress)" in text
    assert "conversation: closed → confirming_erasure (erasure_asked)" in text
    assert "conversation: confirming_erasure → closed (erasure_withdrawn)" in text
    assert "conversation: confirming_erasure → erased (erasure_confirmed)" in text
    assert "erasure confirmed by the customer: forgotten once goodbye" in text
