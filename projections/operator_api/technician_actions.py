"""Operator actions on technicians, shared by the CLI and the operator API.

Each action is decided on a technicians' directory brought up to date with the store
(``leads_flow.decide_provider``) and appended to ``provider-<id>`` through the one decision path
(``orchestrator.decision_path``: optimistic concurrency, retried on a conflict); nothing else writes
technician events. A caller that runs many actions (the operator API) keeps one directory, so each action
reads only the events since the previous one instead of the whole store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from contracts.commands import ProviderCommand
from eventstore import EventStore
from orchestrator.decision_path import DecisionPath
from orchestrator.domain.providers import ProviderView
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
    appended = await DecisionPath(store, directory, clock=clock).on_provider_stream(command)
    # The view as the append left it, with anything committed meanwhile.
    await directory.catch_up(until=appended.checkpoint)
    return directory.views[command.provider_id]
