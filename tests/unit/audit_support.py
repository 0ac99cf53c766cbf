"""A whole world for the audit, replay and closer tests: the real handler, directory, commands handler and
provider admin over an ``InMemoryEventStore`` (or PostgreSQL in integration tests), a controllable clock,
and a sender that records every queued reply as sent (as ``outbound.sender`` does on its own stream, or as
it did on the queuing stream before it had one). Whatever the audit says about these streams it says about
streams written by production code.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.commands import RegisterProvider, TimeoutOffer, TimerCommand
from contracts.events import Event, RecordedEvent
from contracts.inbound import InboundMessage
from contracts.intent import Service
from contracts.outbound import (
    DeliveryStatus,
    ReplyDeliveryUpdated,
    ReplyQueued,
    ReplySendAttempted,
    ReplySent,
    sender_stream_id,
)
from eventstore import ANY_VERSION, EventStore, InMemoryEventStore
from orchestrator.commands_consumer import CommandHandler
from orchestrator.decision_path import to_new_events
from orchestrator.domain.ids import deterministic_ids
from orchestrator.handler import InboundHandler
from orchestrator.identity import deliveries_stream_id
from orchestrator.provider_directory import ProviderDirectory
from outbound.sender import attempt_inbox_id, outcome_inbox_id
from privacy.people import InMemoryPeople
from privacy.people import legacy_provider_id as provider_id_for_phone
from projections.operator_api.technician_actions import execute

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
#: Who each phone is, for every World of the test process (keys are random, as in production).
PEOPLE = InMemoryPeople()

CAMILA = "56987654321"
PEDRO = "56911112222"
JUANA = "56933334444"


class World:
    def __init__(self, store: EventStore | None = None) -> None:
        self.store: EventStore = store if store is not None else InMemoryEventStore()
        self.directory = ProviderDirectory(self.store)
        self.now = T0
        self.people = PEOPLE
        self.handler = InboundHandler(self.store, self.directory, people=self.people, clock=lambda: self.now)
        self.commands = CommandHandler(self.store, self.directory, clock=lambda: self.now)
        self._wamids = itertools.count(1)
        self._sent: set[str] = set()

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    async def register(self, name: str, phone: str, comunas: tuple[str, ...] = ("Ñuñoa",)) -> str:
        provider_id = provider_id_for_phone(phone)
        command = RegisterProvider(
            command_id=f"register-{provider_id}", provider_id=provider_id, name=name, phone=phone,
            services=(Service.GASFITERIA,), comunas=comunas,
        )  # fmt: skip
        await execute(self.store, command, clock=lambda: self.now)
        return provider_id

    async def says(self, phone: str, text: str) -> str:
        return await self._message(phone, type="text", text=text)

    async def taps(self, phone: str, reply_id: str, title: str = "opción") -> str:
        return await self._message(phone, type="interactive", reply_id=reply_id, reply_title=title)

    async def _message(self, phone: str, **fields: str) -> str:
        wamid = f"wamid.T{next(self._wamids):05d}"
        message = InboundMessage(
            wamid=wamid, sender_id=phone, sender_wa_id=phone, sender_name="Camila",
            timestamp=str(int(self.now.timestamp())), raw={}, **fields,
        )  # fmt: skip
        await self.directory.catch_up()  # the live directory follows the store; here it is caught up
        await self.handler.handle(message)
        self.advance(minutes=1)
        return wamid

    async def timer(self, command: TimerCommand) -> None:
        await self.directory.catch_up()
        await self.commands.handle(command)

    async def send_everything(self, *, on_sender_stream: bool = False) -> None:
        """What the sender records for every reply queued so far: by default on the queuing stream, as it
        did before it had a stream of its own (older stores hold that); ``on_sender_stream`` as it does now."""
        for recorded in await self.events():
            if recorded.type != ReplyQueued.TYPE or recorded.data["reply_id"] in self._sent:
                continue
            reply = recorded.to_event()
            assert isinstance(reply, ReplyQueued)
            self._sent.add(str(reply.reply_id))
            sent = ReplySent(reply_id=reply.reply_id, wamid=f"wamid.OUT{len(self._sent):05d}", sent_at=self.now)
            if not on_sender_stream:
                await self._record(recorded.stream_id, [sent], f"reply:{reply.reply_id}")
                continue
            attempt = ReplySendAttempted(reply_id=reply.reply_id, attempt=1, attempted_at=self.now)
            sender_stream = sender_stream_id(recorded.stream_id)
            await self._record(sender_stream, [attempt], attempt_inbox_id(reply.reply_id, 1))
            await self._record(sender_stream, [sent], outcome_inbox_id(reply.reply_id))

    async def _record(self, stream_id: str, events: Sequence[Event], inbox_id: str) -> None:
        new = to_new_events(events, cause=inbox_id, now=self.now, ids=deterministic_ids(f"{inbox_id}/events"))
        await self.store.append(stream_id, ANY_VERSION, new, inbox_id=inbox_id)

    async def events(self) -> list[RecordedEvent]:
        return await self.store.read_all(limit=1_000_000)

    async def stream(self, phone: str) -> list[RecordedEvent]:
        return await self.store.read_stream(customer_stream(phone))


async def delivered(world: World, wamid: str, *statuses: DeliveryStatus) -> None:
    """Meta's statuses of the message ``wamid`` sent to Camila, as the orchestrator records them."""
    for status in statuses:
        update = ReplyDeliveryUpdated(wamid=wamid, status=status, occurred_at=world.now)
        cause = f"{wamid}:{status}"
        events = to_new_events([update], cause=cause, now=world.now, ids=deterministic_ids(cause))
        await world.store.append(deliveries_stream_id(customer_key(CAMILA)), ANY_VERSION, events, inbox_id=cause)


def customer_key(phone: str) -> str:
    """The person key the orchestrator gives this phone."""
    return PEOPLE.key_of(phone)


def customer_stream(phone: str) -> str:
    return f"customer-{customer_key(phone)}"


async def offered_to_juana(world: World) -> tuple[str, str]:
    """Camila's request for a gasfiter in Ñuñoa, offered to Juana (registered first: same load, same rating)."""
    juana = await world.register("Juana Pérez", JUANA)
    pedro = await world.register("Pedro Soto", PEDRO)
    await world.says(CAMILA, "hola, se me rompió la cañería del baño y está saliendo agua, estoy en ñuñoa")
    await world.taps(CAMILA, "urgency:hoy", "Hoy")
    await world.says(CAMILA, "irarrázaval 1234 depto 5")
    await world.taps(CAMILA, "confirm:yes", "Sí, confirmo")
    return juana, pedro


async def full_journey(world: World, *, on_sender_stream: bool = False) -> None:
    """Offer unanswered → next technician → accepted → done → rated, every reply sent (recorded where
    ``World.send_everything`` says)."""
    juana, _ = await offered_to_juana(world)
    await world.send_everything(on_sender_stream=on_sender_stream)
    lead_id = f"{customer_key(CAMILA)}.1"
    world.advance(minutes=11)
    await world.timer(
        TimeoutOffer(command_id=f"timeout-offer:{lead_id}:{juana}", customer_key=customer_key(CAMILA),
                     lead_id=lead_id, provider_id=juana)
    )  # fmt: skip
    await world.taps(PEDRO, f"offer:accept:{lead_id}", "Aceptar")
    await world.says(PEDRO, "terminado")
    await world.taps(CAMILA, "rating:5", "5")
    await world.send_everything(on_sender_stream=on_sender_stream)


def tampered(events: list[RecordedEvent], index: int, **changes: Any) -> list[RecordedEvent]:
    """``events`` with the one at ``index`` altered (what the audit must notice)."""
    altered = list(events)
    altered[index] = RecordedEvent.model_validate({**events[index].model_dump(), **changes})
    return altered


def types(events: Sequence[RecordedEvent]) -> list[str]:
    return [event.type for event in events]
