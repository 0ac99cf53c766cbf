"""What sealing personal fields costs: appends and reads of customer-stream events, and the audit, with the
privacy codec on and off, in the same run, on the same embedded PostgreSQL (interleaved).

The appended events are a conversation's usual mix (a message, its understanding, a reply, a state change),
so the figure covers sealed and untouched events alike. The audit re-decides the same conversations
(``bench_audit``'s generator, same seed) stored twice, in two databases: once in clear (people with
pre-sealing keys, as a store written before sealing) and once sealed (people with data keys), each read
by what ``conectapro audit --all --jobs 1`` runs. Prints events/s for each and the cost of sealing (target
≤ 15 %), and for appends and reads the process's CPU per event (steadier than rates on a shared VM). Appends
and reads are measured twice sealed: by a store that hears no erasures (a process without a LISTEN
connection, as a one-shot command: an append asks the key table first, a read fetches the keys in its own
statement) and by one that does (a service: the LISTEN connection its process keeps hears them, so keys
stay in memory between reads). The kinds of store take turns a slice of people at a time.
What sealing costs the whole pipeline is ``bench_privacy_pipeline``'s.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from datetime import UTC, datetime

from audit.runner import Share, audit_share
from bench.bench_audit import customer_phone, generate, on_server, settle
from bench.bench_eventstore import on_postgres
from conectapro.migrations import all_migration_dirs
from contracts.events import EventMetadata, NewEvent
from eventstore import NO_STREAM, Checkpoint, PostgresEventStore, apply_migrations
from eventstore.notify import Wakeup
from infra.gc_tuning import collecting_less
from infra.settings import Settings
from privacy.people import legacy_person_key as legacy
from privacy.people import new_person_key
from privacy.setup import hear_erasures, protect

PEOPLE = 400
ROUNDS = 5
#: People per slice: each kind of store appends (or reads) a slice in turn.
SLICE = 20
AUDITED_CONVERSATIONS = 600
SETTINGS = Settings(privacy_master_key="bench-privacy-master-key-0123456789abcdef")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def conversation_step(n: int) -> list[NewEvent]:
    meta = EventMetadata(correlation_id=f"wamid.bench.{n}", recorded_at=NOW)
    datas = [
        ("MessageReceived", {"wamid": f"wamid.{n}", "role": "customer", "phone": f"5691{n:07d}",
                             "profile_name": "Camila Rojas", "message_type": "text",
                             "text": "hola, se me rompió la cañería del baño, estoy en ñuñoa",
                             "received_at": NOW.isoformat()}),
        ("LeadFieldsCaptured", {"lead_id": f"x{n}.1", "fields": {"service": "Gasfiteria", "comuna": "Ñuñoa",
                                "problem": "se rompió la cañería", "urgency": None, "address": None},
                                "captured_at": NOW.isoformat()}),
        ("ConversationStateChanged", {"from_state": "idle", "to_state": "collecting", "trigger": "lead_started"}),
        ("ReplyQueued", {"reply_id": str(uuid.uuid4()), "to": f"5691{n:07d}", "recipient": "customer",
                         "provider_id": None, "lead_id": f"x{n}.1", "purpose": "ask_urgency",
                         "message": {"kind": "text", "body": "¿Qué tan urgente es?", "preview_url": False},
                         "in_reply_to": f"wamid.{n}"}),
    ]  # fmt: skip
    return [NewEvent(event_id=uuid.uuid4(), type=kind, data=data, metadata=meta) for kind, data in datas]


class Spent:
    """Wall and process CPU seconds one kind of store spent on some events."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self.events = 0

    def rate(self) -> float:
        return self.events / self.wall

    def cpu_us(self) -> float:
        return 1e6 * self.cpu / self.events


async def timed(spent: Spent, work: Awaitable[int]) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    spent.events += await work
    spent.wall += time.perf_counter() - wall
    spent.cpu += time.process_time() - cpu


async def appended(store: PostgresEventStore, people: list[str], first: int) -> int:
    for n, person in enumerate(people, first):
        await store.append(f"customer-{person}", NO_STREAM, conversation_step(n))
    return 4 * len(people)


async def read(store: PostgresEventStore, people: list[str]) -> int:
    return sum([len(await store.read_stream(f"customer-{person}")) for person in people])


async def one_round(stores: dict[str, PostgresEventStore], people: dict[str, list[str]]) -> dict[str, list[Spent]]:
    """Appends then reads of each kind of store, a slice of people at a time, the kinds in turn (the order
    rotating): a noisy VM's drift falls on every kind alike."""
    for store in stores.values():
        after = Checkpoint.START
        while batch := await store.read_all(after, 5000):
            after = Checkpoint.of(batch[-1])
    spent = {kind: [Spent(), Spent()] for kind in stores}
    kinds = list(stores)
    for step, first in enumerate(range(0, PEOPLE, SLICE)):
        for kind in kinds[step % len(kinds) :] + kinds[: step % len(kinds)]:
            await timed(spent[kind][0], appended(stores[kind], people[kind][first : first + SLICE], first))
    for step, first in enumerate(range(0, PEOPLE, SLICE)):
        for kind in kinds[step % len(kinds) :] + kinds[: step % len(kinds)]:
            await timed(spent[kind][1], read(stores[kind], people[kind][first : first + SLICE]))
    return spent


async def audited_store(server_dsn: str, sealed: bool) -> str:
    """A database of its own holding the audit bench's conversations, sealed or in clear."""
    name = f"bench_privacy_audit_{'sealed' if sealed else 'clear'}_{uuid.uuid4().hex[:6]}"
    await on_server(server_dsn, f'CREATE DATABASE "{name}"')
    dsn = f"{server_dsn.rpartition('/')[0]}/{name}"
    await apply_migrations(dsn, extra_dirs=all_migration_dirs())
    store = await PostgresEventStore.connect(dsn, max_size=4)
    try:
        phones = [customer_phone(n) for n in range(AUDITED_CONVERSATIONS)]
        if sealed:
            people = protect(store, SETTINGS).people
            keys = {phone: await people.key_for(phone) for phone in phones}
            mix = await generate(store, AUDITED_CONVERSATIONS, key=lambda phone: keys.get(phone) or legacy(phone))
        else:
            mix = await generate(store, AUDITED_CONVERSATIONS)
        await settle(store)
    finally:
        await store.close()
    print(f"audit store {'sealed' if sealed else 'in clear'}: {sum(mix.values()):,} events")
    return dsn


async def audit_rate(dsn: str) -> float:
    """Events audited per second by ``conectapro audit --all --jobs 1`` (the store must audit clean)."""
    store = await PostgresEventStore.connect(dsn, min_size=1, max_size=1)
    try:
        horizon = await store.horizon()
    finally:
        await store.close()
    secret = SETTINGS.privacy_master_key
    assert secret is not None
    with collecting_less():
        started = time.perf_counter()
        report = await audit_share(dsn, horizon, Share(), master_key=secret.get_secret_value())
        elapsed = time.perf_counter() - started
    if not report.clean or report.forgotten:
        raise SystemExit(f"the audit store does not audit clean:\n{report.render()[:3000]}")
    return report.events / elapsed


def report_cost(
    what: str, off: list[float], on: list[float], cpu: tuple[list[float], list[float]] | None = None
) -> None:
    off_median, on_median = statistics.median(off), statistics.median(on)
    line = (f"{what:<24} codec off {off_median:9,.0f} events/s | on {on_median:9,.0f} events/s | "
            f"cost {100 * (off_median / on_median - 1):5.1f} % (target ≤ 15 %)")  # fmt: skip
    if cpu is not None:
        line += f" | CPU per event {statistics.median(cpu[0]):4.0f} → {statistics.median(cpu[1]):4.0f} µs"
    print(line)


async def run(dsn: str) -> None:
    await apply_migrations(dsn, extra_dirs=all_migration_dirs())
    plain = await PostgresEventStore.connect(dsn, min_size=1, max_size=2)
    sealed = await PostgresEventStore.connect(dsn, min_size=1, max_size=2)
    privacy = protect(sealed, SETTINGS)
    async with AsyncExitStack() as stack:
        # A service's store: a follower's LISTEN connection (held here) hears erasures for it.
        service = await PostgresEventStore.connect(dsn, min_size=1, max_size=3)
        stack.push_async_callback(service.close)
        serving = protect(service, SETTINGS)
        follower = Wakeup(service.pool)
        stack.push_async_callback(follower.close)
        hear_erasures(stack, service, serving)  # stops hearing before the follower's connection goes
        await follower.ensure()
        stores = {"off": plain, "on": sealed, "service": service}
        rounds: list[dict[str, list[Spent]]] = []
        for round_ in range(ROUNDS):
            # Fresh people each round (new streams); sealed ones with a key row, as the orchestrator makes them.
            # The service made its people itself (as the orchestrator does): it holds their keys already.
            people = {
                "off": [new_person_key() for _ in range(PEOPLE)],
                "on": [await privacy.people.key_for(f"569{round_}{n:07d}") for n in range(PEOPLE)],
                "service": [await serving.people.key_for(f"568{round_}{n:07d}") for n in range(PEOPLE)],
            }
            rounds.append(await one_round(stores, people))
        for index, what in enumerate(("append", "read_stream")):
            off = [spent["off"][index] for spent in rounds]
            for kind, label in (("on", "no listener"), ("service", "service")):
                on = [spent[kind][index] for spent in rounds]
                report_cost(f"{what}, {label}", [s.rate() for s in off], [s.rate() for s in on],
                            ([s.cpu_us() for s in off], [s.cpu_us() for s in on]))  # fmt: skip
    await plain.close()
    await sealed.close()
    clear_dsn, sealed_dsn = await audited_store(dsn, sealed=False), await audited_store(dsn, sealed=True)
    audits: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(ROUNDS):
        audits["off"].append(await audit_rate(clear_dsn))
        audits["on"].append(await audit_rate(sealed_dsn))
    report_cost("audit", audits["off"], audits["on"])


def main() -> None:
    on_postgres(run, "privacy")


if __name__ == "__main__":
    main()
