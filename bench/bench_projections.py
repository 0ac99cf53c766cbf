"""Rebuild throughput of the projections, against reading the same events raw, in the same run.

    python -m bench.bench_projections            # embedded PostgreSQL in a temporary folder
    DATABASE_URL=postgresql://... python -m bench.bench_projections   # a scratch database on that server
    BENCH_EVENTS=100000 python -m bench.bench_projections            # more events (default 50,000)

The events are realistic: synthetic conversations (happy paths, a declined offer, cancellations, comunas
nobody covers, abandoned drafts) decided by the real pure ``orchestrator.leads_flow.decide``, plus the
sender's ``ReplySent`` / ``ReplyFailed`` and Meta's delivery statuses, appended decision by decision in time
order, as the live system would. Then every projection is rebuilt from zero, round after round, alternating
with a raw read of the same events (pages of the same size, no decoding) as the baseline: absolute rates
drift between runs (DESIGN.md), the ratio much less. Target (issue 5): >= 20,000 events/s.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from conectapro.migrations import migrate
from contracts.commands import (
    CustomerCommand,
    ExpireConversation,
    HandleCustomerMessage,
    HandleTechnicianMessage,
    RegisterProvider,
    Understanding,
)
from contracts.events import Event
from contracts.intent import Consent, Intent, IntentName, Service, UnderstandingSource, Urgency
from contracts.outbound import DeliveryStatus, ReplyDeliveryUpdated, ReplyFailed, ReplyQueued, ReplySent
from eventstore import ANY_VERSION, Checkpoint, PostgresEventStore, create_pool
from orchestrator import leads_flow
from orchestrator.decision_path import to_new_events
from orchestrator.domain.providers import ProviderView, evolve_provider_view
from orchestrator.identity import deliveries_stream_id
from privacy.people import legacy_person_key as person_key
from projections.catalog import chosen
from projections.rebuild import DEFAULT_BATCH, rebuild

ROUNDS = 3
WRITERS = 8
START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
COVERED = ("Ñuñoa", "Providencia", "Macul", "La Florida", "Maipú", "Puente Alto", "Las Condes", "Santiago")
UNCOVERED = "Putre"
PROBLEMS = {
    Service.GASFITERIA: "se rompió la cañería del baño",
    Service.ELECTRICIDAD: "se saltó el automático y no vuelve",
    Service.CERRAJERIA: "se me quedaron las llaves adentro",
}


# ------------------------------------------------------------------------------------ synthetic events


@dataclass(order=True)
class Append:
    at: datetime
    seq: int
    stream_id: str = field(compare=False)
    events: list[Event] = field(compare=False)
    cause: str = field(compare=False)


def _says(text: str, **fields: Any) -> Understanding:
    intent = Intent(intent=IntentName.CREATE_LEAD, confidence=0.95, **fields)
    return Understanding(intent=intent, source=UnderstandingSource.RULES, text=text)


def _taps(reply_id: str, name: IntentName = IntentName.UPDATE_LEAD, **fields: Any) -> Understanding:
    intent = Intent(intent=name, confidence=1.0, **fields)
    return Understanding(intent=intent, source=UnderstandingSource.INTERACTIVE, reply_id=reply_id)


class Synthetic:
    """Conversations decided by the real domain; every append carries the decision's clock."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.appends: list[Append] = []
        self.views: dict[str, ProviderView] = {}
        self._seq = 0
        self._wamids = 0
        self._customers = 0

    def _add(self, at: datetime, stream_id: str, events: list[Event], cause: str) -> None:
        if events:
            self._seq += 1
            self.appends.append(Append(at, self._seq, stream_id, events, cause))

    def _wamid(self) -> str:
        self._wamids += 1
        return f"wamid.bench{self._wamids:08d}"

    def _fold_views(self, events: list[Event]) -> None:
        for event in events:
            provider_id = getattr(event, "provider_id", None)
            if provider_id is not None:
                view = evolve_provider_view(self.views.get(provider_id), event)
                if view is not None:
                    self.views[provider_id] = view

    def technicians(self, count: int) -> None:
        services = list(Service)
        for i in range(count):
            phone = f"5697{i:07d}"
            command = RegisterProvider(
                command_id=f"bench-register-{i}", provider_id=f"tech{i:03d}", name=f"Técnico {i}", phone=phone,
                services=(services[i % 3],), comunas=tuple(self.rng.sample(COVERED, 3)), capacity=3,
            )  # fmt: skip
            events = leads_flow.decide_provider(command, providers=self.views, now=START - timedelta(days=1))
            self._fold_views(events)
            self._add(START - timedelta(days=1), leads_flow.provider_stream_id(command.provider_id), events,
                      command.command_id)

    def conversation(self, n: int) -> int:
        """One customer's conversation; returns how many events it produced."""
        rng = self.rng
        phone = f"5698{n:07d}"
        key = person_key(phone)
        stream_id = leads_flow.customer_stream_id(key)
        state = leads_flow.INITIAL_STATE
        now = START + timedelta(minutes=rng.randrange(0, 30 * 24 * 60))
        produced = 0

        def run(command: CustomerCommand) -> None:
            nonlocal state, now, produced
            events = leads_flow.decide(
                state, command, providers=self.views, now=now, new_ids=leads_flow.deterministic_ids(command.command_id)
            )
            state = leads_flow.fold(events, state)
            self._fold_views(events)
            self._add(now, stream_id, events, command.command_id)
            produced += len(events) + self._outcomes(now, stream_id, events)
            now += timedelta(minutes=rng.randint(1, 4))

        def customer(understanding: Understanding) -> None:
            wamid = self._wamid()
            run(HandleCustomerMessage(
                command_id=wamid, customer_key=key, phone=phone, profile_name=f"Cliente {n}", wamid=wamid,
                message_type="interactive" if understanding.reply_id else "text", received_at=now,
                understanding=understanding,
            ))  # fmt: skip

        def technician(provider_id: str, reply_id: str) -> None:
            wamid = self._wamid()
            lead = state.lead
            assert lead is not None
            run(HandleTechnicianMessage(
                command_id=wamid, provider_id=provider_id, lead_id=lead.lead_id, phone=self.views[provider_id].phone,
                wamid=wamid, message_type="interactive", received_at=now,
                understanding=Understanding(source=UnderstandingSource.INTERACTIVE, reply_id=reply_id),
            ))  # fmt: skip

        service = rng.choice(list(Service))
        story = rng.choices(["happy", "declined", "cancelled", "unmatched", "abandoned"], [60, 10, 10, 10, 10])[0]
        comuna = UNCOVERED if story == "unmatched" else rng.choice(COVERED)
        customer(_says(f"hola, {PROBLEMS[service]}, estoy en {comuna}", service=service, comuna=comuna,
                       problem_type=PROBLEMS[service]))
        if story == "abandoned":
            lead = state.lead
            assert lead is not None
            now += timedelta(hours=6)
            run(ExpireConversation(command_id=f"expire-{lead.lead_id}", customer_key=key, lead_id=lead.lead_id))
            return produced
        customer(_taps("urgency:hoy", urgency=Urgency.HOY))
        customer(_says(f"calle {n} número {rng.randint(100, 9999)}", address=f"Calle {n} {rng.randint(100, 9999)}"))
        if story == "cancelled":
            customer(_taps("confirm:cancel", IntentName.CANCEL))
            return produced
        customer(_taps("confirm:yes", consent=Consent.YES))
        lead = state.lead
        if lead is None or lead.offered_to is None:
            return produced  # unmatched (nobody covers the comuna, or everyone is busy)
        if story == "declined":
            declined: str = lead.offered_to
            technician(declined, f"offer:decline:{lead.lead_id}")
            lead = state.lead
            if lead is None or lead.offered_to is None:
                return produced
        provider_id = lead.offered_to
        assert provider_id is not None
        technician(provider_id, f"offer:accept:{lead.lead_id}")
        now += timedelta(hours=rng.randint(1, 8))
        technician(provider_id, f"job:done:{lead.lead_id}")
        customer(_taps(f"rating:{rng.randint(3, 5)}", IntentName.UNKNOWN))
        return produced

    def _outcomes(self, at: datetime, stream_id: str, events: list[Event]) -> int:
        """What the sender and Meta's status webhooks record for the replies of one decision."""
        produced = 0
        for event in events:
            if not isinstance(event, ReplyQueued):
                continue
            sent_at = at + timedelta(seconds=2)
            cause = f"reply:{event.reply_id}"
            if self.rng.random() < 0.05:
                failed = ReplyFailed(reply_id=event.reply_id, failed_at=sent_at, error_code=131047, http_status=400,
                                     reason="Re-engagement message", permanent=True)
                self._add(sent_at, stream_id, [failed], cause)
                produced += 1
                continue
            wamid = self._wamid()
            self._add(sent_at, stream_id, [ReplySent(reply_id=event.reply_id, wamid=wamid, sent_at=sent_at)], cause)
            deliveries = deliveries_stream_id(person_key(event.to))
            for status, delay in ((DeliveryStatus.DELIVERED, 5), (DeliveryStatus.READ, 60)):
                when = at + timedelta(seconds=delay)
                update = ReplyDeliveryUpdated(wamid=wamid, status=status, occurred_at=when)
                self._add(when, deliveries, [update], f"{wamid}:{status.value}")
            produced += 3
        return produced

    def generate(self, target_events: int, technicians: int = 30) -> list[Append]:
        """About ``target_events`` more events, in time order: the technicians first (once), then new
        customers' conversations. Call again for another wave on top of the same technicians."""
        first = len(self.appends)
        produced = 0
        if not self.views:
            self.technicians(technicians)
            produced = technicians
        while produced < target_events:
            self._customers += 1
            produced += self.conversation(self._customers)
        return sorted(self.appends[first:])


async def append_all(store: PostgresEventStore, appends: list[Append]) -> int:
    """Append in time order; each stream on one writer, so its versions stay in order."""
    queues: dict[int, list[Append]] = defaultdict(list)
    for append in appends:
        queues[hash(append.stream_id) % WRITERS].append(append)

    async def writer(queue: list[Append]) -> None:
        for append in queue:
            events = to_new_events(
                append.events, cause=append.cause, now=append.at,
                ids=leads_flow.deterministic_ids(f"{append.cause}/{append.stream_id}/{append.seq}"),
            )  # fmt: skip
            await store.append(append.stream_id, ANY_VERSION, events)

    # Technicians first: lead events about a technician must come after its registration in the global order.
    registrations = [a for a in appends if a.stream_id.startswith("provider-")]
    for append in registrations:
        await writer([append])
    for queue in queues.values():
        queue[:] = [a for a in queue if not a.stream_id.startswith("provider-")]
    await asyncio.gather(*(writer(queue) for queue in queues.values()))
    return sum(len(a.events) for a in appends)


# ------------------------------------------------------------------------------------------- the bench

_RAW_READ = """
SELECT type, schema_version, data, metadata, stream_id, stream_version, global_position, transaction_id
FROM events
WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, global_position
LIMIT $3
"""


async def raw_read(pool: asyncpg.Pool[Any]) -> int:
    """The baseline: the same pages of the same events, fetched and nothing more."""
    done, checkpoint = 0, Checkpoint.START
    async with pool.acquire() as conn:
        while page := await conn.fetch(_RAW_READ, checkpoint.transaction_id, checkpoint.global_position,
                                       DEFAULT_BATCH):
            done += len(page)
            checkpoint = Checkpoint(page[-1][7], page[-1][6])
    return done


async def timed(job: Callable[[], Any]) -> tuple[int, float]:
    started = time.perf_counter()
    done = await job()
    return int(done), time.perf_counter() - started


async def run(dsn: str, target_events: int) -> None:
    await migrate(dsn)
    pool = await create_pool(dsn, min_size=WRITERS, max_size=WRITERS + 2)
    store = PostgresEventStore(pool)
    try:
        started = time.perf_counter()
        appends = Synthetic().generate(target_events)
        generated = time.perf_counter() - started
        total = await append_all(store, appends)
        print(f"{total:,} events in {len(appends):,} appends (generated in {generated:.1f}s, "
              f"appended in {time.perf_counter() - started - generated:.1f}s)", flush=True)
        projections = chosen()

        async def rebuild_all() -> int:
            result = await rebuild(store, projections, progress=False)
            return result.events

        await rebuild_all()  # warm-up: prepared statements, codecs, caches
        ours: list[float] = []
        baseline: list[float] = []
        for _ in range(ROUNDS):
            done, seconds = await timed(rebuild_all)
            ours.append(done / seconds)
            done, seconds = await timed(lambda: raw_read(pool))
            baseline.append(done / seconds)
        ratio = statistics.median(o / b for o, b in zip(ours, baseline, strict=True))
        rows = {t.name: await pool.fetchval(f"SELECT count(*) FROM {t.name}") for p in projections for t in p.tables}
        print(f"{'workload':<44} {'events/s':>10}", flush=True)
        print(f"{'rebuild all projections (' + str(len(projections)) + ')':<44} {statistics.median(ours):>10,.0f}")
        print(f"{'raw read of the same events (baseline)':<44} {statistics.median(baseline):>10,.0f}")
        print(f"ratio rebuild / raw read: {ratio:.2f}   (medians of {ROUNDS} alternating rounds, "
              f"batches of {DEFAULT_BATCH:,}; target >= 20,000 events/s)")
        print("rows: " + ", ".join(f"{name.split('.')[-1]}={count:,}" for name, count in rows.items()), flush=True)
    finally:
        await pool.close()


async def with_scratch_database(server_dsn: str, target_events: int) -> None:
    """A database of our own on that server: events cannot be deleted from an events table."""
    name = f"bench_projections_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    head, _, _ = server_dsn.rpartition("/")
    try:
        await run(f"{head}/{name}", target_events)
    finally:
        admin = await asyncpg.connect(server_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def _embedded() -> Iterator[str]:
    from infra.embedded import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="bench-projections-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "postgres")
        try:
            server = pg.start()
            print(f"embedded PostgreSQL on port {pg.port} (synchronous_commit=on)", file=sys.stderr)
            yield server
        finally:
            pg.stop()


def main() -> None:
    target = int(os.environ.get("BENCH_EVENTS", "50000"))
    dsn = os.environ.get("DATABASE_URL")
    if dsn:
        asyncio.run(with_scratch_database(dsn, target))
        return
    for server in _embedded():
        asyncio.run(with_scratch_database(server, target))


if __name__ == "__main__":
    main()
