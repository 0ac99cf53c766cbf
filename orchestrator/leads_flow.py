"""The brain of ConectaPro: pure ``decide`` / ``evolve`` over one customer's stream.

No I/O, no clock, no random ids: ``now`` and ``new_ids`` come in as arguments, the technicians as a
snapshot of their read model. The handler loads ``customer-<customer_key>``, folds it with :func:`fold`,
calls :func:`decide` and appends the returned events atomically.

The pieces live in ``orchestrator.domain``: transition tables (``states``), state (``model``), ``evolve``,
the customer / technician / timer flows, ``matching``, the reply texts and the technicians' read model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import assert_never
from uuid import UUID

from contracts.commands import (
    ActivateProvider,
    ApologiseForFailedMessage,
    CloseUnratedLead,
    CustomerCommand,
    DeactivateProvider,
    DropErasureQuestion,
    ExpireConversation,
    FollowUpJob,
    ForgetProvider,
    HandBackConversation,
    HandleCustomerMessage,
    HandleTechnicianMessage,
    ProviderCommand,
    RegisterProvider,
    TakeConversation,
    TimeoutOffer,
    UpdateProvider,
    WriteToCustomer,
)
from contracts.events import Event
from orchestrator.domain import erasure, handover, lead_lifecycle
from orchestrator.domain.customer_flow import decide_customer_message
from orchestrator.domain.decision import Decision
from orchestrator.domain.evolve import evolve, fold
from orchestrator.domain.failed_messages import apologise_for_failed_message
from orchestrator.domain.ids import (
    customer_key_of_lead,
    customer_stream_id,
    deterministic_ids,
    lead_id_for,
    provider_stream_id,
)
from orchestrator.domain.model import INITIAL_STATE, CustomerState, Lead, PendingQuestion
from orchestrator.domain.providers import (
    ProviderCommandRejected,
    ProviderView,
    apply_provider_event,
    decide_activate_provider,
    decide_deactivate_provider,
    decide_forget_provider,
    decide_register_provider,
    decide_update_provider,
)
from orchestrator.domain.states import IllegalTransition
from orchestrator.domain.technician_flow import (
    decide_technician_message,
    decide_unrouted_technician_message,
    route_technician_message,
)

__all__ = [
    "INITIAL_STATE",
    "CustomerState",
    "IllegalTransition",
    "Lead",
    "PendingQuestion",
    "ProviderCommandRejected",
    "ProviderView",
    "apply_provider_event",
    "customer_key_of_lead",
    "customer_stream_id",
    "decide",
    "decide_provider",
    "decide_unrouted_technician_message",
    "decide_with_state",
    "deterministic_ids",
    "evolve",
    "fold",
    "lead_id_for",
    "provider_stream_id",
    "route_technician_message",
]


def _decide_command(decision: Decision, command: CustomerCommand) -> None:
    match command:
        case HandleCustomerMessage():
            decide_customer_message(decision, command)
        case HandleTechnicianMessage():
            decide_technician_message(decision, command)
        case ExpireConversation():
            lead_lifecycle.expire_conversation(decision, command)
        case TimeoutOffer():
            lead_lifecycle.timeout_offer(decision, command)
        case FollowUpJob():
            lead_lifecycle.follow_up_job(decision, command)
        case CloseUnratedLead():
            lead_lifecycle.close_unrated_lead(decision, command)
        case DropErasureQuestion():
            erasure.question_unanswered(decision, command)
        case ApologiseForFailedMessage():
            apologise_for_failed_message(decision, command)
        case TakeConversation():
            handover.take(decision, command)
        case WriteToCustomer():
            handover.write(decision, command)
        case HandBackConversation():
            handover.hand_back(decision, command)
        case _:
            assert_never(command)


def _by_id(providers: Mapping[str, ProviderView] | Iterable[ProviderView]) -> Mapping[str, ProviderView]:
    if isinstance(providers, Mapping):
        return providers
    return {view.provider_id: view for view in providers}


def decide(
    state: CustomerState,
    command: CustomerCommand,
    *,
    providers: Mapping[str, ProviderView] | Iterable[ProviderView],
    now: datetime,
    new_ids: Callable[[], UUID],
) -> list[Event]:
    """The events ``command`` produces on a customer's stream in ``state`` (possibly none: a stale timer).

    Never raises for anything a customer or technician can send: invalid requests get a polite reply. An
    operator's action the conversation does not allow raises ``handover.ConversationActionRejected``.
    ``new_ids`` gives the reply ids; pass ``deterministic_ids(command.command_id)`` to make the decision
    reproducible (replay, audit).
    """
    return decide_with_state(state, command, providers=providers, now=now, new_ids=new_ids)[0]


def decide_with_state(
    state: CustomerState,
    command: CustomerCommand,
    *,
    providers: Mapping[str, ProviderView] | Iterable[ProviderView],
    now: datetime,
    new_ids: Callable[[], UUID],
) -> tuple[list[Event], CustomerState]:
    """:func:`decide`, and the state after its events (``fold(events, state)``).

    A decision folds every event as it emits it, so the state comes almost for free: the audit, which keeps
    every stream's state, takes it instead of folding the events a second time.
    """
    cause = command.wamid if isinstance(command, HandleCustomerMessage | HandleTechnicianMessage) else None
    decision = Decision(state, now, new_ids, cause or command.command_id, _by_id(providers))
    _decide_command(decision, command)
    return decision.events, decision.folded()


def decide_provider(
    command: ProviderCommand, *, providers: Mapping[str, ProviderView] | Iterable[ProviderView], now: datetime
) -> list[Event]:
    """The events for an operator command on ``provider-<provider_id>``; raises ProviderCommandRejected."""
    views = _by_id(providers)
    match command:
        case RegisterProvider():
            return decide_register_provider(command, providers=views, now=now)
        case UpdateProvider():
            return decide_update_provider(command, providers=views, now=now)
        case DeactivateProvider():
            return decide_deactivate_provider(command, providers=views, now=now)
        case ActivateProvider():
            return decide_activate_provider(command, providers=views, now=now)
        case ForgetProvider():
            return decide_forget_provider(command, providers=views, now=now)
        case _:
            assert_never(command)
