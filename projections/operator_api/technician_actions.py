"""Operator actions on technicians, shared by the CLI and the operator API.

Each action is decided on a technicians' directory brought up to date with the store
(``leads_flow.decide_provider``) and appended to ``provider-<id>`` through the one decision path
(``orchestrator.decision_path``: optimistic concurrency, retried on a conflict); nothing else writes
technician events. A technician's id is their person key (``privacy.people``: random, the phone → id
mapping keyed and erasable); one registered before keeps its legacy id. A caller that runs many actions
(the operator API) keeps one directory, so each action reads only the events since the previous one
instead of the whole store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from contracts.commands import ProviderCommand
from eventstore import EventStore
from orchestrator.decision_path import DecisionPath
from orchestrator.domain.ids import provider_stream_id
from orchestrator.domain.providers import ProviderView
from orchestrator.identity import People
from orchestrator.provider_directory import ProviderDirectory
from privacy.people import legacy_provider_id, new_person_key


async def technician_of_phone(store: EventStore, people: People | None, phone: str) -> str | None:
    """The id of the technician registered with this phone and not forgotten, if any: their person key
    (technicians registered since technicians are people) or, for one registered before, the legacy id (an
    unkeyed, reversible hash of the phone: ``privacy.people.legacy_provider_id``)."""
    person = await people.find(phone) if people is not None else None
    if person is not None and await store.stream_version(provider_stream_id(person)) > 0:
        return person
    legacy = legacy_provider_id(phone)
    found = await store.read_streams([provider_stream_id(legacy)], types=["ProviderRegistered", "ProviderForgotten"])
    events = found.get(provider_stream_id(legacy), [])
    return legacy if events and events[-1].type == "ProviderRegistered" else None


async def technician_id_for_registration(
    store: EventStore, people: People | None, phone: str, directory: ProviderDirectory | None = None
) -> str:
    """The id to register this phone under: the technician's own when it is registered already (the
    decision then refuses different details, or changes nothing), else the person key of the phone (made
    now for someone new). A store without people (tests) gets a random key; ``directory``, when given, is
    asked first (it knows every registered phone, even without people)."""
    if directory is not None:
        await directory.catch_up()
        known = directory.by_phone(phone)
        if known is not None and not known.forgotten:
            return known.provider_id
    registered = await technician_of_phone(store, people, phone)
    if registered is not None:
        return registered
    return await people.key_for(phone) if people is not None else new_person_key()


async def execute(
    store: EventStore,
    command: ProviderCommand,
    *,
    clock: Callable[[], datetime],
    directory: ProviderDirectory | None = None,
) -> ProviderView:
    """Decide and append ``command``; raises ``ProviderCommandRejected`` with a reason an operator can read.

    ``directory``: one kept by the caller across actions (it must follow ``store``); without it, one is
    folded from the whole store for this action.
    """
    directory = directory or ProviderDirectory(store)
    appended = await DecisionPath(store, directory, clock=clock).on_provider_stream(command)
    # The view as the append left it, with anything committed meanwhile.
    await directory.catch_up(until=appended.checkpoint)
    return directory.views[command.provider_id]
