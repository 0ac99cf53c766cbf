"""Operator actions on handed-over conversations (take, write to the customer, hand back), shared by the
console and the JSON API.

Each is decided on the customer's stream by the pure domain (``orchestrator.domain.handover``) and appended
through the one decision path, like a customer's message: the events name the operator, a message written
is a ``ReplyQueued`` the sender sends like any reply, and ``conectapro audit`` re-decides them all. A refused
action raises ``ConversationActionRejected`` with the reason and records nothing.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Callable
from datetime import datetime

from contracts.commands import OperatorConversationCommand
from eventstore import EventStore
from orchestrator.decision_path import Appended, DecisionPath, given
from orchestrator.domain.ids import customer_stream_id
from orchestrator.provider_directory import ProviderDirectory


def sendable_text(text: str) -> str | None:
    """An operator's message as it goes out, or None when it is empty or holds control characters (but line
    breaks and tabs) or lone surrogates, which the store's jsonb may refuse."""
    cleaned = text.replace("\r\n", "\n").strip()
    unsendable = any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\n\t" for ch in cleaned)
    return cleaned if cleaned and not unsendable else None


def action_id(operator: str) -> str:
    """A new action's command id: the events' correlation id, naming the operator who acted."""
    return f"operator-{operator}-{uuid.uuid4()}"


async def execute(
    store: EventStore,
    command: OperatorConversationCommand,
    *,
    clock: Callable[[], datetime],
    directory: ProviderDirectory | None = None,
) -> Appended:
    """Decide and append ``command``; raises ``ConversationActionRejected`` when the state refuses it."""
    directory = directory or ProviderDirectory(store)
    await directory.catch_up()
    stream_id = customer_stream_id(command.customer_key)
    return await DecisionPath(store, directory, clock=clock).on_customer_stream(
        stream_id, command.command_id, given(command)
    )
