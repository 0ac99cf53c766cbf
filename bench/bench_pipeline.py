"""End-to-end benchmark, LLM off: webhook accepted → ``ReplyQueued`` committed, 1,000 conversations.

Runs `conectapro run ingress orchestrator` in a child process (the sender is left out so that the only
writers of customer streams are the decisions being measured) and follows the event store from this
process: a reply's commit time is when the follower sees it (polling every 5 ms), so figures slightly
over-state the latency. The line "CPU per message" says what each process (this load generator included)
spent: on 2 cores their sum bounds the rate.

It runs twice in the same run: tracing off (the default), then on, every trace sampled and exported over
OTLP/HTTP to a stand-in collector (``bench.otlp_sink``): the difference is what tracing costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from bench.cpu import per_request_line
from bench.http_load import Connection, PreparedRequest, prepare_post
from bench.stack import BENCH_MASTER_KEY, BENCH_SECRET, RunningStack, running
from eventstore import Checkpoint, PostgresEventStore
from infra import event_loop
from infra.embedded import free_port
from infra.settings import Settings
from ingress.signature import sign
from privacy.setup import protect
from tests.whatsapp_builders import text_message

CONVERSATIONS = 1000
SCRIPT = ("hola, necesito un gasfiter en ñuñoa, se rompió la cañería", "hoy", "irarrázaval 1234")
FIXED_RATE = 100
FIXED_SECONDS = 10


@dataclass
class Waiters:
    """Which stream a message is waiting on, and when its reply was committed."""

    pending: dict[str, asyncio.Future[float]] = field(default_factory=dict)

    def expect(self, stream_id: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.pending[stream_id] = future
        return future

    def seen(self, stream_id: str, at: float) -> None:
        future = self.pending.pop(stream_id, None)
        if future is not None and not future.done():
            future.set_result(at)


# Only what the measurement needs: which streams got a ReplyQueued, in the store's gap-safe global order.
# Decoding every event's data here would spend a share of the same 2 cores the pipeline runs on.
_NEW_REPLIES = """
SELECT stream_id, type, transaction_id, global_position FROM events
WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, global_position
LIMIT 5000
"""


async def _follow(pool: asyncpg.Pool, waiters: Waiters, start: Checkpoint) -> None:
    after = (start.transaction_id, start.global_position)
    # One connection held throughout: through the pool, every poll would also pay its release reset.
    async with pool.acquire() as conn:
        await _poll(conn, waiters, after)


async def _poll(conn: asyncpg.pool.PoolConnectionProxy, waiters: Waiters, after: tuple[int, int]) -> None:
    while True:
        rows = await conn.fetch(_NEW_REPLIES, *after)
        now = time.perf_counter()
        for row in rows:
            if row["type"] == "ReplyQueued":
                waiters.seen(row["stream_id"], now)
        if rows:
            after = (rows[-1]["transaction_id"], rows[-1]["global_position"])
        else:
            await asyncio.sleep(0.005)


@dataclass(frozen=True)
class Message:
    """A signed webhook request, prepared before the clock starts, and the stream its reply lands in."""

    request: PreparedRequest
    stream_id: str


#: phone → the person key the orchestrator gives it, made before the clock starts (``load_on``).
PEOPLE_KEYS: dict[str, str] = {}


async def register_people(store: PostgresEventStore, phones: list[str]) -> None:
    people = protect(store, Settings(privacy_master_key=BENCH_MASTER_KEY)).people
    for phone in phones:
        PEOPLE_KEYS[phone] = await people.key_for(phone)


def _message(port: int, phone: str, text: str) -> Message:
    body = orjson.dumps(text_message(f"wamid.bench.{uuid.uuid4().hex}", phone, text, timestamp=int(time.time())))
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, BENCH_SECRET)}
    return Message(prepare_post("127.0.0.1", port, "/webhook", body, headers), f"customer-{PEOPLE_KEYS[phone]}")


@dataclass
class Sample:
    accepted_ms: float  # request sent → 200
    committed_ms: float  # 200 → ReplyQueued committed


async def _one(conn: Connection, message: Message, waiters: Waiters) -> Sample:
    waiting = waiters.expect(message.stream_id)
    sent = time.perf_counter()
    status = await conn.send_reopening(message.request)  # idle past the keep-alive timeout: reopened
    accepted = time.perf_counter()
    assert status == 200, status
    committed = await asyncio.wait_for(waiting, timeout=60)
    return Sample((accepted - sent) * 1000, (committed - accepted) * 1000)


def _report(label: str, samples: list[Sample], seconds: float) -> None:
    committed = sorted(s.committed_ms for s in samples)
    total = sorted(s.accepted_ms + s.committed_ms for s in samples)
    p99 = committed[min(len(committed) - 1, int(len(committed) * 0.99))]
    total_p99 = total[min(len(total) - 1, int(len(total) * 0.99))]
    print(
        f"{label}: {len(samples) / seconds:7.0f} messages/s | accepted→ReplyQueued committed p50 "
        f"{statistics.median(committed):6.1f} ms p99 {p99:6.1f} ms | webhook sent→committed p50 "
        f"{statistics.median(total):6.1f} ms p99 {total_p99:6.1f} ms ({len(samples)} messages)"
    )


@dataclass
class Load:
    """What a benchmark drives a running stack with: the store (to follow it from where it ends now) and a
    pool of keep-alive connections to the webhook."""

    store: PostgresEventStore
    start: Checkpoint
    pool: asyncio.Queue[Connection]


@contextlib.asynccontextmanager
async def load_on(stack: RunningStack, connections: int) -> AsyncIterator[Load]:
    store = await PostgresEventStore.connect(stack.database_url, max_size=3)
    phones = [f"5691{n:06d}" for n in range(CONVERSATIONS)]
    phones += [f"5692{n:07d}" for n in range(FIXED_RATE * FIXED_SECONDS)]
    await register_people(store, phones)
    start = Checkpoint.START
    while batch := await store.read_all(start, limit=5000):
        start = Checkpoint.of(batch[-1])
    opened = [await Connection.open("127.0.0.1", stack.ingress_port) for _ in range(connections)]
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for conn in opened:
        pool.put_nowait(conn)
    try:
        yield Load(store, start, pool)
    finally:
        for conn in opened:
            conn.close()
        await store.close()


@contextlib.asynccontextmanager
async def running_task(coroutine: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """A background task (a follower of the store) for the length of the block, cancelled after it."""
    task = asyncio.create_task(coroutine)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def measure(label: str, extra_env: dict[str, str]) -> None:
    with running(["ingress", "orchestrator"], extra_env) as stack:
        async with load_on(stack, 64) as load:
            waiters = Waiters()
            async with running_task(_follow(load.store.pool, waiters, load.start)):
                peak, peak_seconds, peak_cpu, fixed, fixed_seconds = await _drive(stack, load.pool, waiters)
    print(f"== end to end, LLM off (ingress + orchestrator, real PostgreSQL and JetStream), {label} ==")
    _report(f"peak, {CONVERSATIONS} concurrent conversations x {len(SCRIPT)} messages", peak, peak_seconds)
    print(f"  {per_request_line(peak_cpu, len(peak))} (per message)")
    _report(f"fixed {FIXED_RATE} messages/s", fixed, fixed_seconds)


async def _drive(
    stack: RunningStack, pool: asyncio.Queue[Connection], waiters: Waiters
) -> tuple[list[Sample], float, dict[str, float], list[Sample], float]:
    port = stack.ingress_port

    async def conversation(messages: list[Message]) -> list[Sample]:
        samples = []
        for message in messages:
            conn = await pool.get()
            try:
                samples.append(await _one(conn, message, waiters))
            finally:
                pool.put_nowait(conn)
        return samples

    scripts = [[_message(port, f"5691{n:06d}", text) for text in SCRIPT] for n in range(CONVERSATIONS)]
    firsts = [_message(port, f"5692{n:07d}", SCRIPT[0]) for n in range(FIXED_RATE * FIXED_SECONDS)]

    meter = stack.cpu_meter(["ingress", "orchestrator", "nats-server", "postgres"], include_this_process=True)
    started = time.perf_counter()
    results = await asyncio.gather(*(conversation(script) for script in scripts))
    peak_seconds = time.perf_counter() - started
    peak_cpu = meter.since()
    peak = [s for r in results for s in r]

    fixed: list[Sample] = []
    tasks = []
    started = time.perf_counter()
    for n in range(FIXED_RATE * FIXED_SECONDS):
        delay = started + n / FIXED_RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)

        async def first_message(n: int = n) -> None:
            conn = await pool.get()
            try:
                fixed.append(await _one(conn, firsts[n], waiters))
            finally:
                pool.put_nowait(conn)

        tasks.append(asyncio.create_task(first_message()))
    await asyncio.gather(*tasks)
    return peak, peak_seconds, peak_cpu, fixed, time.perf_counter() - started


@contextlib.contextmanager
def otlp_sink() -> Iterator[str]:
    """A stand-in collector (``bench.otlp_sink``) in its own process; yields its endpoint."""
    port = free_port()
    sink = subprocess.Popen([sys.executable, "-m", "bench.otlp_sink", str(port)])
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{endpoint}/count", timeout=1):
                break
            time.sleep(0.05)
        yield endpoint
        with urllib.request.urlopen(f"{endpoint}/count", timeout=5) as answer:
            print(f"  the collector received: {answer.read().decode()}")
    finally:
        sink.terminate()
        sink.wait(10)


async def main() -> None:
    # Tracing off (no OTEL variables: the default) and on (every span exported), in the same run.
    await measure("tracing off", {"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_SDK_DISABLED": "true"})
    with otlp_sink() as endpoint:
        await measure(
            "tracing on (OTLP/HTTP export, every trace sampled)",
            {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SDK_DISABLED": "false", "OTEL_TRACES_SAMPLER": "always_on"},
        )
    print("targets: >= 300 messages/s; p99 < 150 ms at 100 messages/s")


if __name__ == "__main__":
    event_loop.run(main())
