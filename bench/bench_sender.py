"""Sender benchmark: what one queued reply costs from its ``ReplyQueued`` commit to the Graph API call.

Runs `conectapro run sender` in a child process (next to the ingress, which the stack needs to start the
embedded servers) against the Graph API sandbox served by this process, appends ``ReplyQueued`` events to
new customer streams at a fixed rate, as the orchestrator would, and reports for each phase:

- queued → sent: from the append's commit to the sandbox receiving the send (p50 / p99). Every record the
  sender makes before calling the Graph API is on this path;
- CPU per reply of the sender and of PostgreSQL, until every outcome is recorded.

It drives the sender only through the store and the Graph API, so the same file measures another version
of the sender (``PYTHONPATH=<other checkout> python -m bench.bench_sender``) for a before / after.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime

from bench.cpu import per_request_line
from bench.stack import running
from contracts.events import EventMetadata, NewEvent
from contracts.outbound import RecipientRole, ReplyQueued, TextMessage
from devtools.graph_sandbox import Sandbox, SandboxServer
from eventstore import NO_STREAM, Checkpoint, PostgresEventStore
from infra import event_loop

PHONE_NUMBER_ID = "100000000000001"
#: (replies per second, seconds); under Meta's default 80 messages/s, which the sender paces itself to.
PHASES = ((20, 15), (60, 15))
WARM_UP = 50
TEXT = "¡Listo! Estamos buscando un técnico disponible. Te aviso apenas uno acepte."


def _queued(n: int) -> tuple[str, NewEvent]:
    reply = ReplyQueued(
        reply_id=uuid.uuid4(), to=f"5697{n:07d}", recipient=RecipientRole.CUSTOMER, purpose="bench",
        message=TextMessage(body=TEXT), in_reply_to=f"wamid.bench.{n}",
    )  # fmt: skip
    metadata = EventMetadata(correlation_id=f"wamid.bench.{n}", recorded_at=datetime.now(UTC))
    return f"customer-bench{n:07d}", NewEvent.from_event(reply, event_id=uuid.uuid4(), metadata=metadata)


class Bench:
    def __init__(self, store: PostgresEventStore, sandbox: Sandbox) -> None:
        self.store = store
        self.sandbox = sandbox
        self.next = 0
        self.outcomes_after = Checkpoint.START
        self.outcomes = 0

    async def queue(self, rate: float, seconds: float) -> dict[str, float]:
        """Append ``rate`` replies a second; return each recipient's commit time (wall clock)."""
        committed: dict[str, float] = {}
        count = int(rate * seconds)
        started = time.perf_counter()

        async def one(n: int) -> None:
            stream_id, event = _queued(n)
            await self.store.append(stream_id, NO_STREAM, [event], inbox_id=f"wamid.bench.{n}")
            committed[f"5697{n:07d}"] = time.time()

        tasks = []
        for i in range(count):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(self.next)))
            self.next += 1
        await asyncio.gather(*tasks)
        return committed

    async def all_sent(self, total: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.sandbox.messages()) < total:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(self.sandbox.messages())} of {total} sends arrived")
            await asyncio.sleep(0.05)

    async def all_recorded(self, total: int, timeout: float = 120) -> None:
        """Until the sender has recorded an outcome for ``total`` replies in all."""
        deadline = time.monotonic() + timeout
        while self.outcomes < total:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.outcomes} of {total} outcomes recorded")
            batch = await self.store.read_all(self.outcomes_after, 5000)
            if batch:
                self.outcomes_after = Checkpoint.of(batch[-1])
                self.outcomes += sum(e.type in ("ReplySent", "ReplyFailed") for e in batch)
            else:
                await asyncio.sleep(0.05)

    def latencies_ms(self, committed: dict[str, float]) -> list[float]:
        received = {m["wa_id"]: datetime.fromisoformat(m["received_at"]).timestamp() for m in self.sandbox.messages()}
        return sorted((received[to] - at) * 1000 for to, at in committed.items())


async def main() -> None:
    async with SandboxServer(Sandbox()) as server:
        env = {
            "WHATSAPP_ACCESS_TOKEN": "bench-token",
            "WHATSAPP_API_BASE_URL": server.api_base_url,
            "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        }
        with running(["ingress", "sender"], extra_env=env) as stack:
            store = await PostgresEventStore.connect(stack.database_url, max_size=8)
            bench = Bench(store, server.sandbox)
            await bench.queue(WARM_UP, 1)
            await bench.all_sent(WARM_UP)
            await bench.all_recorded(WARM_UP)
            lines = []
            for rate, seconds in PHASES:
                meter = stack.cpu_meter(["sender", "postgres"])
                committed = await bench.queue(rate, seconds)
                await bench.all_sent(bench.next)
                await bench.all_recorded(bench.next)
                cpu = meter.since()
                latencies = bench.latencies_ms(committed)
                p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
                lines.append(
                    f"{rate} replies/s for {seconds} s: queued→sent p50 {statistics.median(latencies):6.1f} ms "
                    f"p99 {p99:6.1f} ms ({len(latencies)} replies)\n"
                    f"  {per_request_line(cpu, len(latencies))} (per reply, until its outcome is recorded)"
                )
            await store.close()
    print("== sender: ReplyQueued committed → Graph API call (sandbox), real PostgreSQL ==")
    print("\n".join(lines))


if __name__ == "__main__":
    event_loop.run(main())
