"""Property: for random conversations of several customers served by the same technicians, forgetting one
of them never changes what any other customer's streams decide (the audit re-decides them identically) or
show (their export document and their timeline), against a real PostgreSQL sealing personal fields."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from audit.runner import audit_stream
from conectapro.data_export import export
from conectapro.erasure import forget, person_streams
from contracts.privacy_events import ErasureOutcome, ExportOutcome
from eventstore import PostgresEventStore
from projections.operator_api.timeline import build_timeline
from tests.integration.privacy_support import PeopleWorld, protected

pytestmark = pytest.mark.integration

PEDRO, JUANA = "56987650001", "56987650002"
EXAMPLES = 12

GREETING = "hola, se me rompió la cañería del baño, estoy en ñuñoa"
#: A request's way to a rated job, after the greeting: what "next" does, step after step.
HAPPY_PATH = [("taps", "urgency:hoy"), ("address", ""), ("taps", "confirm:yes"), ("accept", ""), ("done", ""),
              ("taps", "rating:4"), ("says", GREETING)]  # fmt: skip
#: What a customer may do instead: (what, argument).
DETOURS = [
    ("says", "estado"),
    ("says", "cancelar"),
    ("says", "quiero hablar con una persona"),
    ("says", "asdf qwerty"),
    ("taps", "urgency:semana"),
    ("says", "necesito un gasfiter en ñuñoa, gotea el calefont"),
]
#: "next" twice as likely as all detours together: most examples reach offers and finished jobs.
CUSTOMER_STEPS = [("next", "")] * (2 * len(DETOURS)) + DETOURS


@dataclass(frozen=True)
class Step:
    person: int
    what: str
    argument: str


def conversations() -> st.SearchStrategy[tuple[int, list[Step], int]]:
    """How many customers, what each does in which order, and which of them is forgotten."""

    def of(people: int) -> st.SearchStrategy[tuple[int, list[Step], int]]:
        step = st.tuples(st.integers(0, people - 1), st.sampled_from(CUSTOMER_STEPS))
        steps = st.lists(step.map(lambda s: Step(s[0], *s[1])), min_size=3, max_size=24)
        return st.tuples(st.just(people), steps, st.integers(0, people - 1))

    return st.integers(min_value=2, max_value=4).flatmap(of)


#: Three customers: the first to a rated job, the second handed to a person, the third cancels after its
#: offer (asked "¿seguro?", it says "cancelar" again); the second is forgotten (always part of the run,
#: whatever hypothesis draws besides).
WHOLE_JOURNEYS = (3, [Step(0, "next", ""), Step(1, "next", ""), Step(2, "next", ""), Step(0, "next", ""),
                      Step(2, "next", ""), Step(0, "next", ""), Step(2, "next", ""), Step(0, "next", ""),
                      Step(1, "says", "quiero hablar con una persona"), Step(0, "next", ""), Step(0, "next", ""),
                      Step(2, "says", "cancelar"), Step(2, "says", "cancelar")], 1)  # fmt: skip


class Customers:
    def __init__(self, world: PeopleWorld, technicians: dict[str, str]) -> None:
        self.world = world
        #: provider id → the technician's phone
        self.technicians = technicians
        self._numbers = itertools.count(1)
        self._along: dict[str, int] = {}

    async def play(self, people: int, steps: list[Step]) -> list[str]:
        phones = [f"5691{next(self._numbers):07d}" for _ in range(people)]
        self.world.names.update({phone: f"Cliente {phone[-4:]}" for phone in phones})
        for person in range(people):  # every customer starts a conversation
            await self.world.says(phones[person], GREETING)
        for step in steps:
            await self._step(phones[step.person], step)
        await self.world.send_everything(on_sender_stream=True)
        return phones

    async def _step(self, phone: str, step: Step) -> None:
        world = self.world
        if step.what == "next":
            along = self._along.get(phone, 0)
            self._along[phone] = (along + 1) % len(HAPPY_PATH)
            step = Step(step.person, *HAPPY_PATH[along])
        match step.what:
            case "says":
                await world.says(phone, step.argument)
            case "taps":
                await world.taps(phone, step.argument)
            case "address":
                await world.says(phone, f"los aromos {phone[-4:]} depto 2")
            case "accept" | "done":
                lead = await self._latest_lead(phone)
                if lead is not None:
                    technician, reply = lead
                    await world.taps(technician, reply)

    async def _latest_lead(self, phone: str) -> tuple[str, str] | None:
        """The technician of the customer's latest offered or accepted lead, and the button they would tap."""
        events = await self.world.store.read_stream(await self.world.customer_stream_of(phone))
        offered = [e.data for e in events if e.type in ("ProviderOffered", "LeadAssigned")]
        if not offered:
            return None
        last = offered[-1]
        technician = self.technicians[last["provider_id"]]
        action = "job:done:" if "provider_name" in last else "offer:accept:"
        return technician, f"{action}{last['lead_id']}"


async def what_shows(world: PeopleWorld, phone: str) -> dict[str, Any]:
    """What the audit, the export and the timeline say of one customer (request ids and times left out)."""
    stream = await world.customer_stream_of(phone)
    person = stream.removeprefix("customer-")
    report = await audit_stream(world.store, stream)
    done = await export(world.store, world.privacy, phone, requested_by="test", now=lambda: world.now)
    assert done.outcome == ExportOutcome.EXPORTED and done.document is not None
    document = {k: v for k, v in done.document.items() if k not in ("request_id", "generated_at")}
    streams = await world.store.read_streams(person_streams(person))
    timeline = build_timeline(event for events in streams.values() for event in events)
    return {"audit_clean": report.clean, "audit": report.render(), "export": document, "timeline": timeline}


@pytest.mark.timeout(max(600, EXAMPLES * 60))
async def test_forgetting_one_customer_changes_nothing_any_other_customer_decides_or_shows(
    store: PostgresEventStore,
) -> None:
    world = PeopleWorld(store, protected(store), {})
    technicians = {await world.register(name, phone): phone for name, phone in (("Pedro Soto", PEDRO),
                                                                                ("Juana Pérez", JUANA))}
    customers = Customers(world, technicians)
    loop = asyncio.get_running_loop()
    seen: set[str] = set()

    async def check(people: int, steps: list[Step], forgotten: int) -> None:
        phones = await customers.play(people, steps)
        others = [phone for i, phone in enumerate(phones) if i != forgotten]
        before = {phone: await what_shows(world, phone) for phone in others}
        assert all(shown["audit_clean"] for shown in before.values()), [s["audit"] for s in before.values()]
        victim = phones[forgotten]
        streams = [await world.customer_stream_of(phone) for phone in phones]
        erased = await forget(store, world.privacy, None, victim, requested_by="test", force=True,
                              now=lambda: world.now)  # fmt: skip
        assert erased.outcome == ErasureOutcome.FORGOTTEN
        after = {phone: await what_shows(world, phone) for phone in others}
        assert after == before
        gone = await export(store, world.privacy, victim, requested_by="test", now=lambda: world.now)
        assert gone.outcome == ExportOutcome.NOT_KNOWN
        assert erased.streams[0] in (await audit_stream(store, erased.streams[0])).forgotten
        for stream in streams:
            seen.update(e.type for e in await store.read_stream(stream))

    # Hypothesis drives the examples from a thread of its own; each runs on the test's event loop.
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(conversations())
    @example(WHOLE_JOURNEYS)
    def forgetting_one(example: tuple[int, list[Step], int]) -> None:
        asyncio.run_coroutine_threadsafe(check(*example), loop).result()

    await asyncio.to_thread(forgetting_one)
    # The examples reached offers, accepted and finished jobs, hand-overs and cancellations.
    assert {"ProviderOffered", "LeadAssigned", "JobCompleted", "ConversationHandedOver", "LeadCancelled"} <= seen
