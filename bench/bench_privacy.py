"""What sealing personal fields costs the event store: appends and reads of customer-stream events with the
privacy codec on and off, in the same run, on the same embedded PostgreSQL (alternating rounds).

The events are a conversation's usual mix (a message, its understanding, a reply, a state change), so the
figure covers sealed and untouched events alike. Prints events/s for each and the cost of sealing (target
≤ 15 %). The pipeline and audit benches measure the whole path with it on.
"""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import UTC, datetime

from bench.bench_eventstore import on_postgres
from conectapro.migrations import all_migration_dirs
from contracts.events import EventMetadata, NewEvent
from eventstore import NO_STREAM, Checkpoint, PostgresEventStore, apply_migrations
from infra.settings import Settings
from privacy.people import new_person_key
from privacy.setup import protect

PEOPLE = 400
ROUNDS = 5
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


async def one_round(store: PostgresEventStore, people: list[str]) -> tuple[float, float]:
    after = Checkpoint.START
    while batch := await store.read_all(after, 5000):
        after = Checkpoint.of(batch[-1])
    started = time.perf_counter()
    for n, person in enumerate(people):
        await store.append(f"customer-{person}", NO_STREAM, conversation_step(n))
    appended = len(people) * 4 / (time.perf_counter() - started)
    started, read = time.perf_counter(), 0
    for person in people:
        read += len(await store.read_stream(f"customer-{person}"))
    return appended, read / (time.perf_counter() - started)


async def run(dsn: str) -> None:
    await apply_migrations(dsn, extra_dirs=all_migration_dirs())
    plain = await PostgresEventStore.connect(dsn, min_size=1, max_size=2)
    sealed = await PostgresEventStore.connect(dsn, min_size=1, max_size=2)
    privacy = protect(sealed, Settings(privacy_master_key="bench-privacy-master-key-0123456789abcdef"))
    figures: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
    for round_ in range(ROUNDS):
        # Fresh people each round (new streams); sealed ones with a key row, as the orchestrator makes them.
        unsealed = [new_person_key() for _ in range(PEOPLE)]
        people = [await privacy.people.key_for(f"569{round_}{n:07d}") for n in range(PEOPLE)]
        figures["off"].append(await one_round(plain, unsealed))
        figures["on"].append(await one_round(sealed, people))
    for index, what in enumerate(("append", "read_stream")):
        off = statistics.median(f[index] for f in figures["off"])
        on = statistics.median(f[index] for f in figures["on"])
        print(f"{what:<12} codec off {off:9,.0f} events/s | on {on:9,.0f} events/s | cost {100 * (off / on - 1):5.1f} %"
              " (target ≤ 15 %)")  # fmt: skip
    await plain.close()
    await sealed.close()


def main() -> None:
    on_postgres(run, "privacy")


if __name__ == "__main__":
    main()
