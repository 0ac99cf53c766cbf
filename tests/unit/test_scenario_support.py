"""The test support itself: a Scenario decides and folds like the handler, a Log numbers like the store, and
the audit's World runs a whole journey. The other unit tests rely on these being right."""

from __future__ import annotations

from contracts.commands import HandleCustomerMessage
from contracts.lead_events import LeadDrafted
from orchestrator.leads_flow import decide, deterministic_ids
from tests.unit.audit_support import CAMILA, World, full_journey, types
from tests.unit.leads_flow_support import CUSTOMER, CUSTOMER_PHONE, FIRST_MESSAGE, PEDRO, T0, TAP_CONFIRM, Scenario
from tests.unit.projectors_support import Log


def test_a_scenario_folds_its_own_decisions_into_the_state() -> None:
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    assert s.state.lead is not None
    assert s.state.lead.fields.comuna == "Ñuñoa"


def test_the_same_command_on_the_same_state_decides_the_same_events() -> None:
    s = Scenario(PEDRO).up_to_confirming()
    command = HandleCustomerMessage(
        command_id="w1",
        customer_key=CUSTOMER,
        phone=CUSTOMER_PHONE,
        wamid="w1",
        received_at=T0,
        understanding=TAP_CONFIRM,
    )
    first = decide(s.state, command, providers=s.views, now=T0, new_ids=deterministic_ids("w1"))
    second = decide(s.state, command, providers=list(s.views.values()), now=T0, new_ids=deterministic_ids("w1"))
    assert first == second


def test_deterministic_ids_never_change() -> None:
    # Stored events carry these ids and the audit derives them again: the scheme is fixed for good.
    ids = deterministic_ids("wamid.Ñuñoa-1")
    assert [str(ids()), str(ids())] == ["ebdace9b-73d7-5cda-9737-aecb49de7b9c", "249c64c8-b7ee-5028-83c6-a18e610097c6"]
    assert [str(deterministic_ids(seed)()) for seed in ("w1", "timeout-offer:c0ffee42.1:pedro")] == [
        "91d8b7ac-bdde-5d52-806c-5d75971671f1",
        "9a850e25-ac2a-549e-ad2a-c4f718ab65d3",
    ]


def test_a_log_numbers_versions_per_stream_and_positions_globally() -> None:
    log = Log()
    drafted = LeadDrafted(lead_id="a.1", customer_key="a", phone="56911112222", drafted_at=T0)
    first = log.record("customer-a", [drafted, drafted])
    second = log.record("customer-b", [drafted])
    assert [ctx.stream_version for _, ctx in first + second] == [1, 2, 1]
    assert [ctx.global_position for _, ctx in first + second] == [1, 2, 3]

async def test_the_full_journey_goes_through_a_timeout_and_ends_rated() -> None:
    world = World()
    await full_journey(world)
    kinds = types(await world.stream(CAMILA))
    milestones = {"OfferExpired", "LeadAssigned", "JobCompleted", "LeadRated"}
    assert [t for t in kinds if t in milestones] == ["OfferExpired", "LeadAssigned", "JobCompleted", "LeadRated"]
    assert kinds.count("ReplySent") == kinds.count("ReplyQueued")
