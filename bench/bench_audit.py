"""`conectapro audit --all` throughput on a realistic store.

    python -m bench.bench_audit                       # embedded PostgreSQL in a temporary folder
    python -m bench.bench_audit --conversations 4000
    DATABASE_URL=postgresql://... python -m bench.bench_audit   # a scratch database on that server

The store is written the way production writes it, minus the network: technicians registered through
``decide_provider``; customers' conversations interleaved (many open at once) and decided by the pure
``decide`` on messages understood by the real deterministic rules (a few as if by the LLM), technicians
accepting, declining or letting offers expire, the closer's timers (offer timeouts, abandoned drafts,
follow-ups, unrated leads) decided as the commands consumer decides them; after every decision the
sender's ``ReplySent`` for each reply and Meta's ``sent`` / ``delivered`` / ``read`` statuses, each appended
with the same metadata, event ids and inbox ids as the real writers. Appends go in order, a few hundred per
transaction, so the global order is exactly the order of the decisions.

Then ``audit_store`` (what ``conectapro audit --all`` runs) reads the whole store once and re-decides every
decision; the store must audit clean. Reported: events/s over the whole store (target >= 50,000), decisions
per second, and the mix of events. Rates drift 20-35 % run to run (DESIGN.md): median of several rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from audit.runner import run_audit
from closer.deadlines import TimerDurations
from conectapro.audit_commands import default_jobs
from contracts.commands import (
    CloseUnratedLead,
    CustomerCommand,
    ExpireConversation,
    FollowUpJob,
    HandleCustomerMessage,
    HandleTechnicianMessage,
    RegisterProvider,
    TimeoutOffer,
    TimerCommand,
    Understanding,
)
from contracts.events import Event, RecordedEvent
from contracts.intent import Intent, IntentName, Service, UnderstandingSource
from contracts.lead_events import ConversationState, LeadStatus
from contracts.outbound import DeliveryStatus, ReplyDeliveryUpdated, ReplyQueued, ReplySent
from eventstore import ANY_VERSION, Checkpoint, PostgresEventStore, apply_migrations
from orchestrator import leads_flow
from orchestrator.decision_path import to_new_events
from orchestrator.domain.providers import apply_provider_event
from orchestrator.identity import deliveries_stream_id
from orchestrator.understanding import understand_interactive, understand_text
from privacy.people import legacy_person_key as person_key

ROUNDS = 5
APPENDS_PER_TRANSACTION = 300
OPEN_CONVERSATIONS = 150
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
DURATIONS = TimerDurations()

COMUNAS = ("Ñuñoa", "Providencia", "Las Condes", "Macul", "La Florida", "Santiago", "Maipú", "Puente Alto")
PROBLEMS: dict[Service, tuple[str, ...]] = {
    Service.GASFITERIA: ("se rompió la cañería del baño y está saliendo agua", "gotea la llave del lavaplatos",
                         "no sale agua caliente del calefont"),
    Service.ELECTRICIDAD: ("se cortó la luz en toda la casa", "se quemó un enchufe de la cocina",
                           "salta el automático cada vez que prendo el horno"),
    Service.CERRAJERIA: ("me quedé afuera, perdí las llaves", "se rompió la chapa de la puerta"),
}  # fmt: skip
STREETS = ("avenida grecia", "irarrázaval", "pasaje los aromos", "los leones", "vicuña mackenna", "san diego")


class Writer:
    """Appends in decision order, a few hundred per transaction, keeping the technicians' views current.

    Delivery statuses go through ``detached``: another connection appends them meanwhile (their streams
    hold no decisions, so where they fall in the global order does not matter).
    """

    def __init__(self, store: PostgresEventStore, conn: Any, side_conn: Any) -> None:
        self.store = store
        self.views: Any = {}
        self.checkpoint = Checkpoint.START
        self.mix: Counter[str] = Counter()
        self._main = _Batcher(store, conn)
        self._side = _Batcher(store, side_conn)
        self._queue: asyncio.Queue[tuple[str, list[Any], str] | None] = asyncio.Queue(maxsize=10_000)
        self._side_task = asyncio.create_task(self._drain_side())

    async def append(self, stream_id: str, expected: int, events: Sequence[Any], inbox_id: str) -> None:
        result = await self._main.append(stream_id, expected, events, inbox_id)
        self.checkpoint = result.checkpoint or self.checkpoint
        for event in events:
            self.mix[event.type] += 1
            if event.data.get("provider_id") is not None:
                self.views = apply_provider_event(self.views, _recorded(event.type, event.data))

    async def detached(self, stream_id: str, events: list[Any], inbox_id: str) -> None:
        self.mix.update(event.type for event in events)
        await self._queue.put((stream_id, events, inbox_id))

    async def _drain_side(self) -> None:
        while (item := await self._queue.get()) is not None:
            await self._side.append(item[0], ANY_VERSION, item[1], item[2])
        await self._side.commit()

    async def commit(self) -> None:
        await self._main.commit()
        await self._queue.put(None)
        await self._side_task


class _Batcher:
    def __init__(self, store: PostgresEventStore, conn: Any) -> None:
        self.store = store
        self.conn = conn
        self._count = 0
        self._transaction: Any = None

    async def append(self, stream_id: str, expected: int, events: Sequence[Any], inbox_id: str) -> Any:
        if self._transaction is None:
            self._transaction = self.conn.transaction()
            await self._transaction.start()
        result = await self.store.append(stream_id, expected, events, inbox_id=inbox_id, connection=self.conn)
        self._count += 1
        if self._count >= APPENDS_PER_TRANSACTION:
            await self.commit()
        return result

    async def commit(self) -> None:
        if self._transaction is not None:
            await self._transaction.commit()
        self._transaction, self._count = None, 0


class World:
    """Customers' streams decided purely, appended like the handler, the commands consumer and the sender."""

    def __init__(self, writer: Writer, rng: random.Random, key: Callable[[str], str] = person_key) -> None:
        self.writer = writer
        self.rng = rng
        #: A phone's person key: the pre-sealing ``c…`` key (stored in clear) unless told otherwise.
        self.key = key
        self.now = T0
        self.states: dict[str, leads_flow.CustomerState] = {}
        self.providers: dict[str, tuple[str, str]] = {}  # provider_id -> (phone, name)
        self._ids = 0

    def next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids:08d}"

    async def register_providers(self, count: int) -> None:
        for n in range(count):
            phone = f"5699{n:07d}"
            provider_id = f"p{n:04d}"
            services = tuple(self.rng.sample(list(Service), k=self.rng.choice((1, 1, 2))))
            comunas = tuple(self.rng.sample(COMUNAS, k=self.rng.randint(2, 5)))
            command = RegisterProvider(
                command_id=f"register-{provider_id}", provider_id=provider_id, name=f"Técnico {n}", phone=phone,
                services=services, comunas=comunas, capacity=self.rng.randint(2, 4),
            )  # fmt: skip
            events = leads_flow.decide_provider(command, providers=self.writer.views, now=self.now)
            new = to_new_events(events, cause=command.command_id, now=self.now,
                                ids=leads_flow.deterministic_ids(command.command_id))  # fmt: skip
            await self.writer.append(leads_flow.provider_stream_id(provider_id), 0, new, command.command_id)
            self.providers[provider_id] = (phone, command.name)

    # ------------------------------------------------------------------------------ one decision

    async def decide(self, key: str, command: CustomerCommand, cause: str, timer: bool = False) -> None:
        stream_id = leads_flow.customer_stream_id(key)
        state = self.states.get(stream_id, leads_flow.INITIAL_STATE)
        self.now += timedelta(seconds=self.rng.randint(5, 90))
        events = leads_flow.decide(
            state, command, providers=self.writer.views, now=self.now, new_ids=leads_flow.deterministic_ids(cause)
        )
        ids = leads_flow.deterministic_ids(f"{cause}/events")
        if timer:
            assert isinstance(command, TimerCommand)
            new = to_new_events(
                events, cause=cause, now=self.now, ids=ids, providers_at=self.writer.checkpoint, command=command
            )
        else:
            new = to_new_events(events, cause=cause, now=self.now, ids=ids)
        await self.writer.append(stream_id, state.version, new, cause)
        state = leads_flow.fold(events, state)
        for event in events:
            if isinstance(event, ReplyQueued):
                state = await self._sent(stream_id, state, event)
        self.states[stream_id] = state

    async def _sent(self, stream_id: str, state: leads_flow.CustomerState, reply: ReplyQueued) -> Any:
        inbox_id = f"reply:{reply.reply_id}"
        wamid = self.next_id("wamid.OUT")
        sent = ReplySent(reply_id=reply.reply_id, wamid=wamid, sent_at=self.now)
        await self.writer.append(stream_id, ANY_VERSION, self._new([sent], inbox_id), inbox_id)
        for status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ):
            update = ReplyDeliveryUpdated(wamid=wamid, status=status, occurred_at=self.now)
            dedupe = f"{wamid}:{status.value}"
            await self.writer.detached(deliveries_stream_id(self.key(reply.to)), self._new([update], dedupe), dedupe)
        return leads_flow.fold([sent], state)

    def _new(self, events: list[Event], cause: str) -> list[Any]:
        return to_new_events(events, cause=cause, now=self.now, ids=leads_flow.deterministic_ids(f"{cause}/events"))

    # ------------------------------------------------------------------------------ who does what

    async def customer(self, phone: str, text: str | None = None, reply_id: str | None = None) -> None:
        key = self.key(phone)
        state = self.states.get(leads_flow.customer_stream_id(key), leads_flow.INITIAL_STATE)
        wamid = self.next_id("wamid.IN")
        if reply_id is not None:
            understanding = Understanding(
                intent=understand_interactive(reply_id), source=UnderstandingSource.INTERACTIVE,
                reply_id=reply_id, text=text,
            )  # fmt: skip
        else:
            assert text is not None
            intent = understand_text(text, state.expecting)
            understanding = Understanding(intent=intent, source=UnderstandingSource.RULES, text=text)
            if not understanding.intent.is_confident and self.rng.random() < 0.5:
                understanding = _as_if_by_llm(text)
        command = HandleCustomerMessage(
            command_id=wamid, customer_key=key, phone=phone, profile_name="Cliente", wamid=wamid,
            message_type="interactive" if reply_id else "text", received_at=self.now, understanding=understanding,
        )  # fmt: skip
        await self.decide(key, command, wamid)

    async def technician(self, provider_id: str, key: str, reply_id: str | None, text: str | None = None) -> None:
        phone, _ = self.providers[provider_id]
        wamid = self.next_id("wamid.TEC")
        source = UnderstandingSource.INTERACTIVE if reply_id else UnderstandingSource.RULES
        lead = self.states[leads_flow.customer_stream_id(key)].lead
        command = HandleTechnicianMessage(
            command_id=wamid, provider_id=provider_id, lead_id=lead.lead_id if lead else None, phone=phone,
            wamid=wamid, message_type="interactive" if reply_id else "text", received_at=self.now,
            understanding=Understanding(source=source, reply_id=reply_id, text=text),
        )  # fmt: skip
        await self.decide(key, command, wamid)

    async def timer(self, command: TimeoutOffer | ExpireConversation | FollowUpJob | CloseUnratedLead) -> None:
        await self.decide(command.customer_key, command, command.command_id, timer=True)

    def lead(self, key: str) -> Any:
        return self.states[leads_flow.customer_stream_id(key)].lead

    def conversation(self, key: str) -> ConversationState:
        return self.states[leads_flow.customer_stream_id(key)].conversation


def _recorded(event_type: str, data: dict[str, Any]) -> RecordedEvent:
    # Only type and data matter to the views; no validation (this is our own output).
    fields: dict[str, Any] = {"type": event_type, "schema_version": 1, "data": data}
    return RecordedEvent.model_construct(**fields)


def _as_if_by_llm(text: str) -> Understanding:
    return Understanding(
        intent=Intent(intent=IntentName.SMALLTALK, confidence=0.9), source=UnderstandingSource.LLM, text=text,
        raw_output='{"intent": "smalltalk", "confidence": 0.9}', model="gpt-4o-mini", prompt_version="intent-v3",
        latency_ms=420.0, tokens=312,
    )  # fmt: skip


def customer_phone(n: int) -> str:
    return f"5698{n:07d}"


async def journey(world: World, n: int) -> AsyncIterator[None]:
    """One customer's conversation, one decision per step (the scheduler interleaves many)."""
    rng = world.rng
    phone = customer_phone(n)
    key = world.key(phone)
    service = rng.choice(list(Service))
    comuna = rng.choice(COMUNAS)
    if rng.random() < 0.3:
        await world.customer(phone, "hola buenas tardes")
        yield
    problem = rng.choice(PROBLEMS[service])
    if rng.random() < 0.25:
        await world.customer(phone, problem)  # no comuna yet: the bot asks for it
        yield
        await world.customer(phone, comuna.lower())
    else:
        await world.customer(phone, f"hola, {problem}, estoy en {comuna.lower()}")
    yield
    lead_id = world.lead(key).lead_id
    if rng.random() < 0.05:  # abandoned draft
        world.now += DURATIONS.draft_abandoned
        await world.timer(ExpireConversation(command_id=f"expire-draft:{lead_id}", customer_key=key, lead_id=lead_id))
        return
    await world.customer(phone, "Hoy", rng.choice(("urgency:hoy", "urgency:1_2_dias", "urgency:semana")))
    yield
    await world.customer(phone, f"{rng.choice(STREETS)} {rng.randint(10, 9999)}")
    yield
    if rng.random() < 0.1:
        await world.customer(phone, "Corregir", "confirm:fix")
        yield
        await world.customer(phone, f"{rng.choice(STREETS)} {rng.randint(10, 9999)} depto {rng.randint(1, 99)}")
        yield
    if rng.random() < 0.07:
        await world.customer(phone, "Cancelar", "confirm:cancel")
        return
    await world.customer(phone, "Sí, confirmo", "confirm:yes")
    yield
    while world.lead(key).status is LeadStatus.OFFERED:
        offered_to = world.lead(key).offered_to
        roll = rng.random()
        if roll < 0.15:
            world.now += DURATIONS.offer_unanswered
            command_id = f"timeout-offer:{lead_id}:{offered_to}"
            await world.timer(TimeoutOffer(command_id=command_id, customer_key=key, lead_id=lead_id,
                                           provider_id=offered_to))  # fmt: skip
        elif roll < 0.3:
            await world.technician(offered_to, key, f"offer:decline:{lead_id}")
        else:
            await world.technician(offered_to, key, f"offer:accept:{lead_id}")
        yield
    if world.lead(key).status is not LeadStatus.ASSIGNED:
        return  # unmatched
    assignee = world.lead(key).assigned_to
    if rng.random() < 0.2:
        await world.customer(phone, "estado")
        yield
    if rng.random() < 0.7:
        await world.technician(assignee, key, None, "terminado")
    else:
        world.now += DURATIONS.window_for(world.lead(key).fields.urgency)
        await world.timer(FollowUpJob(command_id=f"follow-up:{lead_id}", customer_key=key, lead_id=lead_id))
    yield
    if world.conversation(key) is not ConversationState.AWAITING_RATING:
        return
    if rng.random() < 0.8:
        stars = rng.randint(1, 5)
        await world.customer(phone, str(stars), f"rating:{stars}")
    else:
        world.now += DURATIONS.rating_window
        await world.timer(CloseUnratedLead(command_id=f"close-unrated:{lead_id}", customer_key=key, lead_id=lead_id))
    yield


async def generate(
    store: PostgresEventStore, conversations: int, seed: int = 7, key: Callable[[str], str] = person_key
) -> Counter[str]:
    rng = random.Random(seed)
    async with store.pool.acquire() as conn, store.pool.acquire() as side_conn:
        writer = Writer(store, conn, side_conn)
        world = World(writer, rng, key)
        await world.register_providers(40)
        pending = iter(range(conversations))
        open_: list[AsyncIterator[None]] = []
        while True:
            while len(open_) < OPEN_CONVERSATIONS and (n := next(pending, None)) is not None:
                open_.append(journey(world, n))
            if not open_:
                break
            chosen = rng.randrange(len(open_))
            try:
                await anext(open_[chosen])
            except StopAsyncIteration:
                open_.pop(chosen)
        await writer.commit()
        return writer.mix


async def populate(database_url: str, conversations: int) -> Counter[str]:
    await apply_migrations(database_url)
    store = await PostgresEventStore.connect(database_url, max_size=4)
    try:
        mix = await generate(store, conversations)
        await settle(store)
        return mix
    finally:
        await store.close()


async def settle(store: PostgresEventStore) -> None:
    # A store audited in production has been at rest: autovacuum has visited it and its pages carry
    # their hint bits. Right after a bulk load the first scans do that work instead (and autovacuum
    # runs alongside the audit), which is the load, not the audit: settle the store first.
    async with store.pool.acquire() as conn:
        await conn.execute("VACUUM (ANALYZE) events")
        await conn.execute("CHECKPOINT")


def run(database_url: str, conversations: int, jobs: int) -> int:
    started = time.perf_counter()
    mix = asyncio.run(populate(database_url, conversations))
    total = sum(mix.values())
    print(f"generated {total:,} events for {conversations:,} conversations in {time.perf_counter() - started:.1f} s")
    for kind, count in mix.most_common():
        print(f"  {kind:26} {count:8,}  {count / total:6.1%}")
    for processes in sorted({1, jobs}):
        rates: list[float] = []
        stream_rates: list[float] = []
        decision_rates: list[float] = []
        for round_ in range(1, ROUNDS + 1):
            started = time.perf_counter()
            report, plan = run_audit(database_url, jobs=processes)  # what `conectapro audit --all` runs
            elapsed = time.perf_counter() - started
            if not report.clean:
                print(report.render()[:5000], file=sys.stderr)
                print("the generated store does not audit clean", file=sys.stderr)
                return 1
            rates.append(plan.in_store / elapsed)
            stream_rates.append(report.events / elapsed)
            decision_rates.append(report.decisions / elapsed)
            print(f"{processes} process(es), round {round_}: {plan.in_store:,} events in the store "
                  f"({report.events:,} in {report.streams:,} customer/provider streams, {report.decisions:,} "
                  f"decisions) in {elapsed:.2f} s = {plan.in_store / elapsed:,.0f} events/s")  # fmt: skip
        rate = statistics.median(rates)
        print(f"audit --all --jobs {processes} (median of {ROUNDS}): {rate:,.0f} store events/s, "
              f"{statistics.median(stream_rates):,.0f} customer/provider stream events/s, "
              f"{statistics.median(decision_rates):,.0f} decisions re-decided/s — target >= 50,000 events/s: "
              f"{'met' if rate >= 50_000 else 'NOT met'}")  # fmt: skip
    return 0


async def on_server(server_dsn: str, statement: str) -> None:
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


def with_scratch_database(server_dsn: str, conversations: int, jobs: int) -> int:
    """A database of our own on that server (events cannot be deleted from an events table)."""
    name = f"bench_audit_{uuid.uuid4().hex[:8]}"
    asyncio.run(on_server(server_dsn, f'CREATE DATABASE "{name}"'))
    head, _, _ = server_dsn.rpartition("/")
    try:
        return run(f"{head}/{name}", conversations, jobs)
    finally:
        asyncio.run(on_server(server_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="processes for the parallel run")
    args = parser.parse_args()
    dsn = os.environ.get("DATABASE_URL")
    if dsn:
        return with_scratch_database(dsn, args.conversations, args.jobs)
    from infra.embedded import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "postgres")
        try:
            server = pg.start()
            print(f"embedded PostgreSQL on port {pg.port}", file=sys.stderr)
            return with_scratch_database(server, args.conversations, args.jobs)
        finally:
            pg.stop()


if __name__ == "__main__":
    raise SystemExit(main())
