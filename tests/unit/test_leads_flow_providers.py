"""Technicians: operator decisions (register, update, deactivate, activate) and the ProviderView read model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.commands import ActivateProvider, DeactivateProvider, RegisterProvider, UpdateProvider
from contracts.events import Event, decode_event, event_types
from contracts.intent import Service
from contracts.provider_events import ProviderActivated, ProviderDeactivated, ProviderRegistered, ProviderUpdated
from orchestrator.domain.providers import (
    InvalidProviderData,
    ProviderAlreadyRegistered,
    ProviderView,
    UnknownProvider,
    evolve_provider_view,
)
from orchestrator.leads_flow import decide_provider
from tests.unit.leads_flow_support import PEDRO, Scenario, rating_tap

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


def register(**overrides: object) -> RegisterProvider:
    data: dict[str, object] = {
        "command_id": "cli-1",
        "provider_id": "pedro",
        "name": "Pedro Soto",
        "phone": "56911112222",
        "services": (Service.GASFITERIA,),
        "comunas": ("nunoa", "Providencia", "ñuñoa"),
        "capacity": 3,
    }
    data.update(overrides)
    return RegisterProvider.model_validate(data)


def views_after(events: list[Event]) -> dict[str, ProviderView]:
    views: dict[str, ProviderView] = {}
    for event in events:
        pid: str = getattr(event, "provider_id")  # noqa: B009
        view = evolve_provider_view(views.get(pid), event)
        if view is not None:
            views[pid] = view
    return views


def test_registering_a_technician_records_canonical_comunas_once_each() -> None:
    (event,) = decide_provider(register(), providers={}, now=NOW)
    assert isinstance(event, ProviderRegistered)
    assert event.comunas == ("Ñuñoa", "Providencia")
    assert event.active is True and event.capacity == 3


def test_an_unknown_comuna_is_refused_never_guessed() -> None:
    with pytest.raises(InvalidProviderData, match="Springfield"):
        decide_provider(register(comunas=("Springfield",)), providers={}, now=NOW)


def test_registering_the_same_technician_again_with_the_same_data_does_nothing() -> None:
    views = views_after(decide_provider(register(), providers={}, now=NOW))
    assert decide_provider(register(), providers=views, now=NOW) == []


def test_registering_an_existing_id_with_other_data_is_refused() -> None:
    views = views_after(decide_provider(register(), providers={}, now=NOW))
    with pytest.raises(ProviderAlreadyRegistered):
        decide_provider(register(name="Otro"), providers=views, now=NOW)


def test_two_technicians_cannot_share_a_phone_number() -> None:
    views = views_after(decide_provider(register(), providers={}, now=NOW))
    with pytest.raises(InvalidProviderData, match="already belongs"):
        decide_provider(register(provider_id="otro"), providers=views, now=NOW)


def test_an_update_records_only_what_changed() -> None:
    views = views_after(decide_provider(register(), providers={}, now=NOW))
    command = UpdateProvider(command_id="u1", provider_id="pedro", name="Pedro Soto", capacity=5, comunas=("Maipú",))
    (event,) = decide_provider(command, providers=views, now=NOW)
    assert isinstance(event, ProviderUpdated)
    assert (event.name, event.capacity, event.comunas, event.phone) == (None, 5, ("Maipú",), None)
    assert views_after([*decide_provider(register(), providers={}, now=NOW), event])["pedro"].capacity == 5


def test_an_update_that_changes_nothing_records_nothing() -> None:
    views = views_after(decide_provider(register(), providers={}, now=NOW))
    assert (
        decide_provider(UpdateProvider(command_id="u", provider_id="pedro", capacity=3), providers=views, now=NOW) == []
    )


def test_commands_for_an_unknown_technician_are_refused() -> None:
    for command in (
        UpdateProvider(command_id="u", provider_id="nadie", capacity=2),
        DeactivateProvider(command_id="d", provider_id="nadie"),
        ActivateProvider(command_id="a", provider_id="nadie"),
    ):
        with pytest.raises(UnknownProvider):
            decide_provider(command, providers={}, now=NOW)


def test_deactivating_and_activating_are_idempotent() -> None:
    events = decide_provider(register(), providers={}, now=NOW)
    views = views_after(events)
    assert decide_provider(ActivateProvider(command_id="a", provider_id="pedro"), providers=views, now=NOW) == []
    (off,) = decide_provider(
        DeactivateProvider(command_id="d", provider_id="pedro", reason="vacaciones"), providers=views, now=NOW
    )
    assert isinstance(off, ProviderDeactivated)
    views = views_after([*events, off])
    assert views["pedro"].active is False
    assert decide_provider(DeactivateProvider(command_id="d", provider_id="pedro"), providers=views, now=NOW) == []
    (on,) = decide_provider(ActivateProvider(command_id="a", provider_id="pedro"), providers=views, now=NOW)
    assert isinstance(on, ProviderActivated)


def test_the_view_follows_offers_assignments_completions_and_ratings() -> None:
    s = Scenario(PEDRO).up_to_offered()
    assert s.views["pedro"].pending_offers == (f"{s.state.lead.lead_id}",)  # type: ignore[union-attr]
    s.accept(PEDRO)
    pedro = s.views["pedro"]
    assert (pedro.pending_offers, pedro.active_jobs, pedro.last_assigned_at is not None) == ((), 1, True)
    s.done(PEDRO)
    s.customer(rating_tap(4))
    pedro = s.views["pedro"]
    assert (pedro.active_jobs, pedro.rating_count, pedro.rating_avg) == (0, 1, 4.0)


def test_events_about_unknown_technicians_and_unrelated_events_leave_the_views_alone() -> None:
    s = Scenario()
    before = s.views
    s.given(ProviderActivated(provider_id="ghost", activated_at=NOW))
    assert s.views is before


def test_every_domain_event_round_trips_through_the_registry() -> None:
    s = Scenario(PEDRO).up_to_completed()
    s.customer(rating_tap(5))
    seen = set()
    for event in s.events:
        assert decode_event(event.TYPE, event.SCHEMA_VERSION, event.model_dump(mode="json")) == event
        seen.add(event.TYPE)
    assert {"MatchingAttempted", "LeadAssigned", "LeadRated", "ReplyQueued"} <= seen
    assert {"ProviderRegistered", "LeadCancelled", "ReplySent", "ReplyFailed"} <= set(event_types())
