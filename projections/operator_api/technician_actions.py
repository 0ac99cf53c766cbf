"""Operator actions on technicians, shared by the CLI and the operator API.

Each action brings a technicians' directory up to date with the store, decides purely
(``leads_flow.decide_provider``) and appends to ``provider-<id>`` with optimistic concurrency; nothing else
writes technician events. A caller that runs many actions (the operator API) keeps one directory, so each
action reads only the events since the previous one instead of the whole store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from contracts.commands import ProviderCommand
from eventstore import EventStore
from orchestrator import leads_flow
from orchestrator.domain.ids import event_ids_for
from orchestrator.domain.providers import ProviderView
from orchestrator.handler import to_new_events
from orchestrator.provider_directory import ProviderDirectory


def provider_id_for_phone(phone: str) -> str:
    """A stable technician id derived from the phone number (re-registering the same number is refused)."""
    return "p" + hashlib.blake2b(phone.encode(), digest_size=6).hexdigest()


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
    await directory.catch_up()
    now = clock()
    events = leads_flow.decide_provider(command, providers=directory.views, now=now)
    stream_id = leads_flow.provider_stream_id(command.provider_id)
    version = await store.stream_version(stream_id)
    new_events = to_new_events(events, cause=command.command_id, now=now, ids=event_ids_for(command.command_id))
    await store.append(stream_id, version, new_events, inbox_id=command.command_id)
    await directory.catch_up()  # the view as the append left it, with anything committed meanwhile
    return directory.views[command.provider_id]
