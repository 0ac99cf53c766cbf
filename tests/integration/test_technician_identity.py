"""Technicians are people: one registered now gets a random id (their person key, found from the phone only
through the keyed, erasable lookup) and a registration sealed with their key; one registered before keeps
its legacy id (a reversible hash of the phone) and their events as they were written, in clear."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from conectapro.erasure import forget
from contracts.commands import RegisterProvider
from contracts.intent import Service
from contracts.privacy_events import ErasureOutcome
from eventstore import PostgresEventStore
from infra.settings import Settings
from orchestrator.domain.providers import ProviderAlreadyRegistered
from privacy.people import legacy_provider_id
from privacy.setup import protect
from projections.operator_api.technician_actions import (
    execute,
    technician_id_for_registration,
    technician_of_phone,
)
from tests.e2e.pipeline import PRIVACY_MASTER_KEY

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def registration(provider_id: str, phone: str, name: str = "Wenceslao Quiroga") -> RegisterProvider:
    return RegisterProvider(command_id=f"register-{provider_id}-{name}", provider_id=provider_id, name=name,
                            phone=phone, services=(Service.CERRAJERIA,), comunas=("Macul",))  # fmt: skip


async def stored_text(store: PostgresEventStore, stream_id: str) -> str:
    rows = await store.pool.fetch("SELECT data::text FROM events WHERE stream_id = $1", stream_id)
    return "\n".join(row[0] for row in rows)


async def test_a_new_technician_gets_a_random_id_and_a_sealed_registration_and_registers_once(
    store: PostgresEventStore,
) -> None:
    privacy = protect(store, Settings(privacy_master_key=PRIVACY_MASTER_KEY))
    phone = "56987650001"
    provider_id = await technician_id_for_registration(store, privacy.people, phone)
    assert re.fullmatch(r"p[0-9a-f]{20}", provider_id) and provider_id != legacy_provider_id(phone)
    view = await execute(store, registration(provider_id, phone), clock=lambda: NOW)
    assert (view.name, view.phone) == ("Wenceslao Quiroga", phone)

    stored = await stored_text(store, f"provider-{provider_id}")
    assert "$sealed" in stored and phone not in stored and "Wenceslao" not in stored
    [opened] = await store.read_stream(f"provider-{provider_id}")
    assert (opened.data["name"], opened.data["phone"]) == ("Wenceslao Quiroga", phone)

    # The same phone again: the same id, so the decision refuses other details (and repeats nothing).
    assert await technician_id_for_registration(store, privacy.people, phone) == provider_id
    with pytest.raises(ProviderAlreadyRegistered):
        await execute(store, registration(provider_id, phone, "Otra Persona"), clock=lambda: NOW)
    await execute(store, registration(provider_id, phone), clock=lambda: NOW)
    assert len(await store.read_stream(f"provider-{provider_id}")) == 1


async def test_a_legacy_technician_keeps_their_id_until_forgotten_and_then_registers_as_someone_new(
    store: PostgresEventStore,
) -> None:
    privacy = protect(store, Settings(privacy_master_key=PRIVACY_MASTER_KEY))
    phone = "56987650002"
    legacy = legacy_provider_id(phone)
    await execute(store, registration(legacy, phone), clock=lambda: NOW)
    assert phone in await stored_text(store, f"provider-{legacy}")  # as stores before sealing wrote it
    assert await technician_of_phone(store, privacy.people, phone) == legacy
    assert await technician_id_for_registration(store, privacy.people, phone) == legacy

    erasure = await forget(store, privacy, None, phone, requested_by="test", force=False, now=lambda: NOW)
    assert (erasure.outcome, erasure.provider_id) == (ErasureOutcome.FORGOTTEN, legacy)
    assert [e.type for e in await store.read_stream(f"provider-{legacy}")][-1] == "ProviderForgotten"
    assert await technician_of_phone(store, privacy.people, phone) is None
    again = await technician_id_for_registration(store, privacy.people, phone)
    assert again != legacy and re.fullmatch(r"p[0-9a-f]{20}", again)
