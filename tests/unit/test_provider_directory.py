"""The technicians' directory: folding is idempotent, and a technician's message never routes on stale views."""

from __future__ import annotations

from contracts.inbound import InboundMessage
from orchestrator.provider_directory import ProviderDirectory
from tests.unit.audit_support import (
    CAMILA,
    JUANA,
    World,
    customer_key,
    customer_stream,
    full_journey,
    offered_to_juana,
    types,
)


async def test_events_delivered_twice_are_folded_once() -> None:
    world = World()
    await full_journey(world)  # ends with a rating: counted once per event
    events = await world.events()
    once = ProviderDirectory(world.store)
    once.apply(events)

    rated = types(events).index("LeadRated")
    twice = ProviderDirectory(world.store)
    twice.apply(events)
    twice.apply(events[rated - 3 :])  # a follow batch overlapping what a catch-up already folded

    assert twice.views == once.views and twice.checkpoint == once.checkpoint
    assert sum(view.rating_count for view in once.views.values()) == 1


async def test_a_technician_who_answers_right_after_accepting_is_routed_to_the_lead() -> None:
    world = World()
    await offered_to_juana(world)
    await world.taps(JUANA, f"offer:accept:{customer_key(CAMILA)}.1", "Aceptar")
    # The directory has not seen the assignment yet (its follower reads every 50 ms): handled straight away.
    done = InboundMessage(
        wamid="wamid.DONE", sender_id=JUANA, sender_wa_id=JUANA, timestamp=str(int(world.now.timestamp())),
        raw={}, type="text", text="terminado",
    )  # fmt: skip
    await world.handler.handle(done)

    assert "JobCompleted" in types(await world.store.read_stream(customer_stream(CAMILA)))
