"""The one decision path: what a decision appends, with which metadata, and how conflicts are retried."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import pytest

from audit.engine import audit_events
from contracts.commands import (
    CustomerCommand,
    DeactivateProvider,
    HandleCustomerMessage,
    HandleTechnicianMessage,
    RegisterProvider,
    Understanding,
    UpdateProvider,
)
from contracts.events import NewEvent, RecordedEvent, StorePosition
from contracts.intent import Service, UnderstandingSource
from contracts.whatsapp_account_events import WhatsAppErrorReported
from eventstore import AppendResult, Checkpoint, ConcurrencyError, InMemoryEventStore
from orchestrator import leads_flow
from orchestrator.decision_path import DecisionPath, given
from orchestrator.domain.ids import event_ids_for
from orchestrator.domain.model import CustomerState
from orchestrator.provider_directory import ProviderDirectory

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
KEY = "c1"
STREAM = leads_flow.customer_stream_id(KEY)
PEDRO = "p1"


class ContestedStore(InMemoryEventStore):
    """An in-memory store where another writer may append just before ours (``before_append``), and whose
    reads yield to other tasks as a database read does. Counts the conflicts it raises."""

    def __init__(self) -> None:
        super().__init__()
        self.before_append: Callable[[], Awaitable[None]] | None = None
        self.conflicts = 0

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[NewEvent], inbox_id: str | None = None
    ) -> AppendResult:
        interfere, self.before_append = self.before_append, None
        if interfere is not None:
            await interfere()
        try:
            return await super().append(stream_id, expected_version, events, inbox_id)
        except ConcurrencyError:
            self.conflicts += 1
            raise

    async def read_all(self, after: Checkpoint = Checkpoint.START, limit: int = 1000) -> list[RecordedEvent]:
        batch = await super().read_all(after, limit)
        await asyncio.sleep(0)
        return batch


def says(wamid: str, text: str) -> HandleCustomerMessage:
    return HandleCustomerMessage(
        command_id=wamid, customer_key=KEY, phone="56987654321", wamid=wamid, received_at=NOW,
        understanding=Understanding(source=UnderstandingSource.RULES, text=text),
    )  # fmt: skip


def register_pedro() -> RegisterProvider:
    return RegisterProvider(
        command_id="register-p1", provider_id=PEDRO, name="Pedro Soto", phone="56911112222",
        services=(Service.GASFITERIA,), comunas=("Ñuñoa",),
    )  # fmt: skip


def path_on(store: InMemoryEventStore, attempts: int = 5) -> DecisionPath:
    return DecisionPath(store, ProviderDirectory(store), clock=lambda: NOW, attempts=attempts)


async def test_a_decisions_events_carry_its_cause_its_time_and_the_directory_position_it_read() -> None:
    store = InMemoryEventStore()
    directory = ProviderDirectory(store)
    path = DecisionPath(store, directory, clock=lambda: NOW)
    await path.on_provider_stream(register_pedro())
    read_at = directory.checkpoint

    appended = await path.on_customer_stream(STREAM, "wamid.1", given(says("wamid.1", "hola")))

    stored = await store.read_stream(STREAM)
    assert appended.events == len(stored) > 0 and not appended.duplicate
    ids = event_ids_for("wamid.1")
    for event in stored:
        assert event.event_id == ids()
        assert event.metadata.correlation_id == event.metadata.causation_id == "wamid.1"
        assert event.metadata.recorded_at == NOW
        assert event.metadata.providers_checkpoint == StorePosition(read_at.transaction_id, read_at.global_position)
        assert event.metadata.command is None  # a message is recorded by its own events
    assert await store.is_handled("wamid.1")
    assert audit_events(await store.read_all()).clean


async def test_a_conflict_reloads_the_state_and_decides_again_on_it() -> None:
    store = ContestedStore()
    seen: list[int] = []

    async def first_message(state: CustomerState) -> CustomerCommand:
        seen.append(state.version)
        return says("wamid.2", "necesito un gasfiter en ñuñoa")

    async def other_process_decides_first() -> None:
        await path_on(store).on_customer_stream(STREAM, "wamid.1", given(says("wamid.1", "hola")))

    store.before_append = other_process_decides_first
    await path_on(store).on_customer_stream(STREAM, "wamid.2", first_message)

    stored = await store.read_stream(STREAM)
    first = [e for e in stored if e.metadata.correlation_id == "wamid.1"]
    assert store.conflicts == 1
    assert seen == [0, len(first)]  # decided again on the state the other decision left
    assert [e.metadata.correlation_id for e in stored] == ["wamid.1"] * len(first) + ["wamid.2"] * (
        len(stored) - len(first)
    )
    assert audit_events(await store.read_all()).clean


async def test_a_conflict_that_lasts_is_raised_after_the_last_attempt() -> None:
    store = ContestedStore()
    competitors = iter(range(100))

    async def always_someone_first() -> None:
        n = next(competitors)
        await path_on(store).on_customer_stream(STREAM, f"wamid.other{n}", given(says(f"wamid.other{n}", "hola")))
        store.before_append = always_someone_first

    async def message(state: CustomerState) -> CustomerCommand:
        store.before_append = always_someone_first
        return says("wamid.mine", "hola")

    with pytest.raises(ConcurrencyError):
        await path_on(store, attempts=3).on_customer_stream(STREAM, "wamid.mine", message)

    assert store.conflicts == 3
    assert not await store.is_handled("wamid.mine")
    assert all(e.metadata.correlation_id != "wamid.mine" for e in await store.read_stream(STREAM))


async def test_a_cause_decided_before_writes_nothing_and_says_so() -> None:
    store = InMemoryEventStore()
    await path_on(store).on_customer_stream(STREAM, "wamid.1", given(says("wamid.1", "hola")))
    before = await store.read_stream(STREAM)

    # Another process, with nothing cached, gets the same message again (a redelivery).
    again = await path_on(store).on_customer_stream(STREAM, "wamid.1", given(says("wamid.1", "hola")))

    assert again.duplicate and again.events == 0
    assert await store.read_stream(STREAM) == before


async def test_two_operators_changing_one_technician_at_once_both_get_their_change() -> None:
    store = ContestedStore()
    await path_on(store).on_provider_stream(register_pedro())

    # Two operator API processes, each with its own directory: one of them decides on a view without the
    # other's change, conflicts, catches up and decides again.
    await asyncio.gather(
        path_on(store).on_provider_stream(UpdateProvider(command_id="rename", provider_id=PEDRO, name="Pedro S.")),
        path_on(store).on_provider_stream(DeactivateProvider(command_id="deactivate", provider_id=PEDRO)),
    )

    assert store.conflicts == 1
    directory = ProviderDirectory(store)
    await directory.catch_up()
    assert directory.views[PEDRO].name == "Pedro S." and not directory.views[PEDRO].active
    stored = await store.read_stream(leads_flow.provider_stream_id(PEDRO))
    assert [e.type for e in stored] == ["ProviderRegistered", "ProviderUpdated", "ProviderDeactivated"]
    assert audit_events(await store.read_all()).clean


async def test_a_technicians_message_tied_to_no_lead_is_decided_on_their_own_stream() -> None:
    store = InMemoryEventStore()
    directory = ProviderDirectory(store)
    path = DecisionPath(store, directory, clock=lambda: NOW)
    await path.on_provider_stream(register_pedro())
    await directory.catch_up()  # as the handler does before it looks a technician up
    command = HandleTechnicianMessage(
        command_id="wamid.t1", provider_id=PEDRO, phone="56911112222", wamid="wamid.t1", received_at=NOW,
        understanding=Understanding(source=UnderstandingSource.RULES, text="hola"),
    )  # fmt: skip

    appended = await path.unrouted_technician_message(command)

    stored = await store.read_stream(leads_flow.provider_stream_id(PEDRO))
    decided = [e for e in stored if e.metadata.correlation_id == "wamid.t1"]
    assert appended.events == len(decided) > 0
    at = directory.checkpoint
    assert all(e.metadata.providers_checkpoint == (at.transaction_id, at.global_position) for e in decided)
    assert audit_events(await store.read_all()).clean


async def test_facts_are_recorded_after_whatever_the_stream_holds_and_record_no_directory_position() -> None:
    store = InMemoryEventStore()
    path = path_on(store)
    error = WhatsAppErrorReported(code=131000, title="Something went wrong", message=None, details=None,
                                  reported_at=NOW)  # fmt: skip

    await path.record("account-x", [error], cause="error-1", now=NOW)
    await path.record("account-x", [error], cause="error-2", now=NOW)
    nothing = await path.record("account-x", [], cause="status-unknown", now=NOW)

    stored = await store.read_stream("account-x")
    assert [e.stream_version for e in stored] == [1, 2]
    assert all(e.metadata.providers_checkpoint is None and e.metadata.command is None for e in stored)
    assert nothing.events == 0 and await store.is_handled("status-unknown")
