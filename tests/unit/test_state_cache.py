"""The handler's cache of customer states: after its own appends it holds exactly the stream's state."""

from __future__ import annotations

from orchestrator import leads_flow
from orchestrator.state_cache import CustomerStateCache
from tests.unit.audit_support import CAMILA, PEDRO, World, customer_key


async def test_the_cached_state_after_a_conversation_equals_folding_the_stream_from_scratch() -> None:
    world = World()
    await world.register("Pedro Soto", PEDRO)
    for text in ("hola, necesito un gasfiter en ñuñoa, se rompió la cañería", "hoy", "irarrázaval 1234", "sí"):
        await world.says(CAMILA, text)
    stream_id = leads_flow.customer_stream_id(customer_key(CAMILA))

    cached = await world.handler._decisions._states.load(stream_id)  # nothing new to read: the cache's own state
    fresh = await CustomerStateCache(world.store).load(stream_id)

    assert cached == fresh
    assert cached.version == len(await world.store.read_stream(stream_id)) > 0
