"""The technicians read model: coverage, capacity and load exactly as matching sees them, plus history."""

from __future__ import annotations

from contracts.intent import Service
from contracts.lead_events import JobCompleted, LeadAssigned
from contracts.provider_events import ProviderDeactivated, ProviderUpdated
from orchestrator.domain.ids import provider_stream_id
from projections.readmodels.technicians import TECHNICIANS_PROJECTOR, TechnicianRow, evolve_technician, view_of
from tests.unit.leads_flow_support import JUANA, LEAD, PEDRO, Scenario, rating_tap
from tests.unit.projectors_support import T0, Log, customer_items, fold


def technicians(s: Scenario) -> dict[str, TechnicianRow]:
    log = Log()
    registrations = log.record(provider_stream_id("pedro"), [PEDRO]) + log.record(provider_stream_id("juana"), [JUANA])
    return fold(TECHNICIANS_PROJECTOR, registrations + customer_items(s.events, log))


def test_a_registered_technician_shows_coverage_capacity_and_no_load() -> None:
    pedro = technicians(Scenario(PEDRO, JUANA))["pedro"]
    assert (pedro.name, pedro.phone, pedro.services, pedro.comunas) == (
        "Pedro Soto", "56911112222", ("Gasfiteria",), ("Ñuñoa",),
    )  # fmt: skip
    assert (pedro.capacity, pedro.active, pedro.active_jobs, pedro.rating_avg) == (2, True, 0, None)
    assert pedro.registered_at == PEDRO.registered_at


def test_the_row_is_the_view_matching_decides_on() -> None:
    s = Scenario(PEDRO, JUANA).up_to_assigned()
    rows = technicians(s)
    for provider_id, row in rows.items():
        assert view_of(row) == s.views[provider_id]


def test_an_offer_reserves_capacity_and_an_assignment_becomes_an_active_job() -> None:
    s = Scenario(PEDRO).up_to_offered()
    assert technicians(s)["pedro"].pending_offers == (LEAD,)
    s.accept(PEDRO)
    pedro = technicians(s)["pedro"]
    assert (pedro.pending_offers, pedro.active_leads, pedro.active_jobs) == ((), (LEAD,), 1)
    assert pedro.last_assigned_at is not None


def test_a_finished_and_rated_job_frees_the_technician_and_counts_in_the_ratings() -> None:
    s = Scenario(PEDRO).up_to_completed()
    s.customer(rating_tap(4))
    pedro = technicians(s)["pedro"]
    assert (pedro.active_jobs, pedro.jobs_completed, pedro.rating_count, pedro.rating_avg) == (0, 1, 1, 4.0)


def test_operators_changes_show_at_once() -> None:
    log = Log()
    items = log.record(provider_stream_id("pedro"), [
        PEDRO,
        ProviderUpdated(provider_id="pedro", services=(Service.GASFITERIA, Service.ELECTRICIDAD),
                        comunas=("Macul", "Ñuñoa"), capacity=4, updated_at=T0),
        ProviderDeactivated(provider_id="pedro", reason="vacaciones", deactivated_at=T0),
    ])  # fmt: skip
    pedro = fold(TECHNICIANS_PROJECTOR, items)["pedro"]
    assert (pedro.services, pedro.comunas, pedro.capacity, pedro.active) == (
        ("Gasfiteria", "Electricidad"), ("Macul", "Ñuñoa"), 4, False,
    )  # fmt: skip


def test_lead_events_about_a_technician_never_registered_are_left_out() -> None:
    [(event, ctx)] = Log().record("customer-x", [
        LeadAssigned(lead_id=LEAD, provider_id="ghost", provider_name="X", provider_phone="56900000000",
                     assigned_at=T0),
    ])  # fmt: skip
    assert evolve_technician(None, event, ctx) is None


def test_a_completion_counts_even_when_the_job_was_no_longer_listed_as_active() -> None:
    log = Log()
    items = log.record(provider_stream_id("pedro"), [PEDRO]) + log.record("customer-x", [
        JobCompleted(lead_id=LEAD, provider_id="pedro", reported_by="customer", completed_at=T0),
    ])  # fmt: skip
    assert fold(TECHNICIANS_PROJECTOR, items)["pedro"].jobs_completed == 1
