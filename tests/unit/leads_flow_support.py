"""Given / when / then support for the leads-flow tests (and a few tests of the support itself).

A :class:`Scenario` keeps a customer's stream as a list of events and the technicians' read model, decides
commands with a fixed clock and deterministic ids, and folds what it decided back in, exactly as the
handler does (the technicians' views go through ``apply_provider_event`` with recorded envelopes).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any, TypeVar

from contracts.commands import (
    CustomerCommand,
    HandleCustomerMessage,
    HandleTechnicianMessage,
    Understanding,
)
from contracts.events import Event, EventMetadata, RecordedEvent
from contracts.intent import Consent, Intent, IntentName, Service, UnderstandingSource, Urgency
from contracts.lead_events import ConversationState, ConversationStateChanged, LeadStatus
from contracts.outbound import RecipientRole, ReplyQueued
from contracts.provider_events import ProviderRegistered
from orchestrator.leads_flow import (
    CustomerState,
    ProviderView,
    apply_provider_event,
    decide_with_state,
    deterministic_ids,
    fold,
)

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
CUSTOMER = "c0ffee42"
CUSTOMER_PHONE = "56987654321"
LEAD = f"{CUSTOMER}.1"


def registered(
    provider_id: str,
    name: str,
    phone: str,
    *,
    services: tuple[Service, ...] = (Service.GASFITERIA,),
    comunas: tuple[str, ...] = ("Ñuñoa",),
    capacity: int = 2,
    active: bool = True,
) -> ProviderRegistered:
    return ProviderRegistered(
        provider_id=provider_id,
        name=name,
        phone=phone,
        services=services,
        comunas=comunas,
        capacity=capacity,
        active=active,
        registered_at=T0 - timedelta(days=30),
    )


PEDRO = registered("pedro", "Pedro Soto", "56911112222")
JUANA = registered("juana", "Juana Pérez", "56933334444")


def intent(name: IntentName = IntentName.CREATE_LEAD, confidence: float = 0.95, **fields: Any) -> Intent:
    return Intent(intent=name, confidence=confidence, **fields)


def says(
    text: str, name: IntentName = IntentName.CREATE_LEAD, confidence: float = 0.95, **fields: Any
) -> Understanding:
    """A typed message and what the rules made of it."""
    return Understanding(intent=intent(name, confidence, **fields), source=UnderstandingSource.RULES, text=text)


def taps(reply_id: str, name: IntentName = IntentName.UPDATE_LEAD, **fields: Any) -> Understanding:
    """A tapped button / row, understood exactly."""
    return Understanding(intent=intent(name, 1.0, **fields), source=UnderstandingSource.INTERACTIVE, reply_id=reply_id)


TAP_HOY = taps("urgency:hoy", urgency=Urgency.HOY)
TAP_CONFIRM = taps("confirm:yes", consent=Consent.YES)
TAP_FIX = taps("confirm:fix")
TAP_CANCEL = taps("confirm:cancel", IntentName.CANCEL)
TAP_SURE_CANCEL = taps("consent:yes", consent=Consent.YES)
TAP_KEEP = taps("consent:no", consent=Consent.NO)
FIRST_MESSAGE = says(
    "hola, se me rompió la cañería del baño y está saliendo agua, estoy en ñuñoa",
    service=Service.GASFITERIA,
    comuna="Ñuñoa",
    problem_type="se rompió la cañería del baño",
)
ADDRESS = says("irarrázaval 1234 depto 5", address="Irarrázaval 1234 depto 5")


def rating_tap(stars: int) -> Understanding:
    return taps(f"rating:{stars}", IntentName.UNKNOWN)


class Scenario:
    def __init__(self, *providers: ProviderRegistered) -> None:
        self.events: list[Event] = []
        self.views: Mapping[str, ProviderView] = {}
        self.now = T0
        self._wamids = count(1)
        self._positions = count(1)
        for registration in providers:
            self._fold_views([registration])

    # ------------------------------------------------------------------ given
    def given(self, *events: Event) -> Scenario:
        self.events.extend(events)
        self._fold_views(events)
        return self

    @property
    def state(self) -> CustomerState:
        return fold(self.events)

    # Methods, not properties: a fresh read after each step (no narrowing carried over by type checkers).
    def conversation(self) -> ConversationState:
        return self.state.conversation

    def lead_status(self) -> LeadStatus | None:
        lead = self.state.lead
        return lead.status if lead is not None else None

    # ------------------------------------------------------------------- when
    def run(self, command: CustomerCommand) -> list[Event]:
        before = self.state
        new, after = decide_with_state(
            before, command, providers=self.views, now=self.now, new_ids=deterministic_ids(command.command_id)
        )
        # The state a decision hands back is its events folded: the audit takes it instead of folding again.
        assert after == fold(new, before)
        self.events.extend(new)
        self._fold_views(new)
        self.now += timedelta(minutes=1)
        return new

    def customer(self, understanding: Understanding, *, profile_name: str | None = "Camila") -> list[Event]:
        wamid = f"wamid.c{next(self._wamids)}"
        return self.run(
            HandleCustomerMessage(
                command_id=wamid,
                customer_key=CUSTOMER,
                phone=CUSTOMER_PHONE,
                profile_name=profile_name,
                wamid=wamid,
                message_type="interactive" if understanding.reply_id else "text",
                received_at=self.now,
                understanding=understanding,
            )
        )

    def technician(
        self,
        provider: ProviderRegistered,
        *,
        reply_id: str | None = None,
        text: str | None = None,
        lead_id: str | None = LEAD,
    ) -> list[Event]:
        wamid = f"wamid.t{next(self._wamids)}"
        source = UnderstandingSource.INTERACTIVE if reply_id else UnderstandingSource.RULES
        return self.run(
            HandleTechnicianMessage(
                command_id=wamid,
                provider_id=provider.provider_id,
                lead_id=lead_id,
                phone=provider.phone,
                wamid=wamid,
                received_at=self.now,
                understanding=Understanding(source=source, reply_id=reply_id, text=text),
            )
        )

    def accept(self, provider: ProviderRegistered, lead_id: str = LEAD) -> list[Event]:
        return self.technician(provider, reply_id=f"offer:accept:{lead_id}")

    def decline(self, provider: ProviderRegistered, lead_id: str = LEAD) -> list[Event]:
        return self.technician(provider, reply_id=f"offer:decline:{lead_id}")

    def done(self, provider: ProviderRegistered, lead_id: str = LEAD) -> list[Event]:
        return self.technician(provider, reply_id=f"job:done:{lead_id}")

    # ------------------------------------------------------- canned journeys
    def up_to_confirming(self) -> Scenario:
        self.customer(FIRST_MESSAGE)
        self.customer(TAP_HOY)
        self.customer(ADDRESS)
        return self

    def up_to_offered(self) -> Scenario:
        self.up_to_confirming().customer(TAP_CONFIRM)
        return self

    def up_to_assigned(self, provider: ProviderRegistered = PEDRO) -> Scenario:
        self.up_to_offered().accept(provider)
        return self

    def up_to_completed(self, provider: ProviderRegistered = PEDRO) -> Scenario:
        self.up_to_assigned(provider).done(provider)
        return self

    def _fold_views(self, events: Any) -> None:
        for event in events:
            recorded = RecordedEvent(
                event_id=uuid.uuid4(),
                stream_id="test",
                stream_version=1,
                type=event.TYPE,
                schema_version=event.SCHEMA_VERSION,
                data=event.model_dump(mode="json"),
                metadata=EventMetadata(correlation_id="test", recorded_at=self.now),
                global_position=next(self._positions),
            )
            self.views = apply_provider_event(self.views, recorded)


# ------------------------------------------------------------------------------- then


E = TypeVar("E", bound=Event)


def of_type(events: list[Event], cls: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, cls)]


def types(events: list[Event]) -> list[str]:
    return [e.TYPE for e in events]


def replies(events: list[Event], to: RecipientRole | None = None) -> list[ReplyQueued]:
    return [e for e in of_type(events, ReplyQueued) if to is None or e.recipient is to]


def customer_replies(events: list[Event]) -> list[ReplyQueued]:
    return replies(events, RecipientRole.CUSTOMER)


def technician_replies(events: list[Event]) -> list[ReplyQueued]:
    return replies(events, RecipientRole.TECHNICIAN)


def purposes(events: list[Event]) -> list[str]:
    return [r.purpose for r in replies(events)]


def texts(events: list[Event]) -> list[str]:
    return [r.message.plain_text for r in replies(events)]


def transitions(events: list[Event]) -> list[tuple[str, str, str]]:
    return [(e.from_state, e.trigger, e.to_state) for e in of_type(events, ConversationStateChanged)]
