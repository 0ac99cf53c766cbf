"""Operator actions on technicians: a directory kept across actions reads only what is new each time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from contracts.commands import DeactivateProvider, RegisterProvider
from contracts.events import RecordedEvent
from contracts.intent import Service
from eventstore import Checkpoint, InMemoryEventStore
from orchestrator.domain.ids import deterministic_ids, event_ids_for
from orchestrator.provider_directory import ProviderDirectory
from privacy.people import legacy_provider_id as provider_id_for_phone
from projections.operator_api.technician_actions import execute

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class CountingStore(InMemoryEventStore):
    """Counts the events ``read_all`` hands out, and yields to other tasks first, as a database read does."""

    def __init__(self) -> None:
        super().__init__()
        self.read = 0

    async def read_all(self, after: Checkpoint = Checkpoint.START, limit: int = 1000) -> list[RecordedEvent]:
        batch = await super().read_all(after, limit)
        await asyncio.sleep(0)
        self.read += len(batch)
        return batch


def register(n: int) -> RegisterProvider:
    phone = f"5695555{n:04d}"
    return RegisterProvider(
        command_id=f"register-{n}", provider_id=provider_id_for_phone(phone), name=f"Técnico {n}", phone=phone,
        services=(Service.GASFITERIA,), comunas=("Ñuñoa",),
    )  # fmt: skip


async def test_each_action_with_a_kept_directory_reads_only_the_events_since_the_previous_one() -> None:
    store = CountingStore()
    directory = ProviderDirectory(store)
    for n in range(20):
        await execute(store, register(n), clock=lambda: NOW, directory=directory)
    read_for_twenty = store.read

    view = await execute(
        store,
        DeactivateProvider(command_id="deactivate-3", provider_id=register(3).provider_id),
        clock=lambda: NOW,
        directory=directory,
    )

    assert not view.active and view.name == "Técnico 3"
    assert read_for_twenty == 20  # each registration read its own event once: no re-reading of the store
    assert store.read - read_for_twenty == 1
    assert len(directory.views) == 20


async def test_concurrent_actions_on_one_directory_fold_every_event_exactly_once() -> None:
    store = CountingStore()
    directory = ProviderDirectory(store)

    await asyncio.gather(*(execute(store, register(n), clock=lambda: NOW, directory=directory) for n in range(10)))

    assert store.read == 10
    fresh = ProviderDirectory(store)
    await fresh.catch_up()
    assert directory.views == fresh.views


async def test_an_operators_events_get_their_ids_from_the_one_scheme_every_writer_uses() -> None:
    # Ids derived from the command id (as the handler, commands consumer and sender derive theirs), and not
    # from the sequence a decision uses for reply ids, which could then collide with them.
    store = InMemoryEventStore()
    await execute(store, register(1), clock=lambda: NOW)
    [event] = await store.read_all()
    assert event.event_id == event_ids_for("register-1")()
    assert event.event_id != deterministic_ids("register-1")()
