"""Full-path benchmark: what a user runs, webhook → WhatsApp send, with every service and status webhooks.

Every service of `conectapro run` in its own process (ingress, orchestrator, sender, closer, projections,
operator API), built by the same bootstraps; the sender talks to a Graph API stand-in (``graph_standin``)
that answers each send after 200 ms and then posts its ``sent`` / ``delivered`` / ``read`` statuses back
through the signed webhook, as Meta does. Customers follow a three-message script; a customer's next
message comes seconds after the previous one, so each message's latency is webhook posted → the first send
to that customer that followed it (the stand-in's receive time).

Phases: open loop at 15 and at 60 customer messages/s, then a closed loop (saturation). Each prints the
send rate and latency, the projections' lag (sampled every 0.5 s, and how long after the last message they
were all caught up), PostgreSQL transactions per customer message (``pg_stat_database.xact_commit``, less the
bench's own lag samples), and the CPU milliseconds per customer message of every process — the load
generator (with the stand-in) apart.
Status webhooks are part of the load: their cost is counted per customer message.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from dataclasses import dataclass, field

import orjson

from bench.graph_standin import STATUSES, GraphStandIn
from bench.http_load import Connection, PreparedRequest, prepare_post
from bench.stack import BENCH_SECRET, RunningStack, running
from eventstore import PostgresEventStore
from infra import event_loop
from infra.embedded import free_port
from ingress.signature import sign
from projections.catalog import PROJECTIONS
from projections.lag import Lag, measure_all
from tests.whatsapp_builders import text_message

SERVICES = ["ingress", "orchestrator", "sender", "closer", "projections", "operator_api"]
PRODUCT = [*SERVICES, "nats-server", "postgres"]
SCRIPT = ("hola, necesito un gasfiter en ñuñoa, se rompió la cañería", "hoy", "irarrázaval 1234")
GRAPH_LATENCY = 0.2
PHONE_NUMBER_ID = "106540352242922"
#: (customer messages per second, seconds) of the open-loop phases.
RATES = ((15, 20), (60, 20))
#: Seconds between two messages of one customer in the open loop: their replies are out long before.
CUSTOMER_SPACING = 8.0
SATURATION_CUSTOMERS = 200
SATURATION_SECONDS = 20
DRAIN_TIMEOUT = 120.0


@dataclass
class Customer:
    phone: str
    sent_before: int = 0  # sends to this customer the stand-in had received before the current message


@dataclass
class Phase:
    label: str
    latencies_ms: list[float] = field(default_factory=list)
    lag_samples: list[float] = field(default_factory=list)
    messages: int = 0
    seconds: float = 0.0
    caught_up_after: float = 0.0
    transactions: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    missing: int = 0


def _request(port: int, phone: str, text: str) -> PreparedRequest:
    body = orjson.dumps(text_message(f"wamid.full.{uuid.uuid4().hex}", phone, text, timestamp=int(time.time())))
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, BENCH_SECRET)}
    return prepare_post("127.0.0.1", port, "/webhook", body, headers)


class Bench:
    """The load, its phases and their measure; ``processes``: those whose CPU is the pipeline's."""

    processes: list[str] = PRODUCT

    def __init__(self, stack: RunningStack, standin: GraphStandIn, store: PostgresEventStore) -> None:
        self.stack = stack
        self.standin = standin
        self.store = store
        self.connections: asyncio.Queue[Connection] = asyncio.Queue()
        self.numbers = iter(range(10**6))
        #: Transactions this bench made itself (its lag samples), left out of the product's count.
        self.own_transactions = 0

    async def lags(self) -> list[Lag]:
        lags = await measure_all(self.store, PROJECTIONS.values())
        # One autocommit query for the checkpoints, one per distinct checkpoint (``measure_all``).
        self.own_transactions += 1 + len({lag.checkpoint_position for lag in lags})
        return lags

    async def open(self, count: int) -> None:
        for _ in range(count):
            self.connections.put_nowait(await Connection.open("127.0.0.1", self.stack.ingress_port))

    def customers(self, count: int) -> list[Customer]:
        return [Customer(f"5693{next(self.numbers):07d}") for _ in range(count)]

    async def message(self, customer: Customer, text: str, phase: Phase) -> None:
        """Post one message and wait for the first send to the customer after it."""
        request = _request(self.stack.ingress_port, customer.phone, text)
        sends = self.standin.sends
        customer.sent_before = len(sends.at[customer.phone])
        waiting = sends.nth(customer.phone, customer.sent_before + 1)
        conn = await self.connections.get()
        posted = time.perf_counter()
        try:
            status = await conn.send_reopening(request)
        finally:
            self.connections.put_nowait(conn)
        assert status == 200, status
        try:
            sent_at = await asyncio.wait_for(waiting, DRAIN_TIMEOUT)
        except TimeoutError:
            phase.missing += 1
            return
        phase.latencies_ms.append((sent_at - posted) * 1000)

    async def transactions(self) -> int:
        async with self.store.pool.acquire() as conn:
            value = await conn.fetchval(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            )
        return int(value)

    async def sample_lag(self, phase: Phase, stop: asyncio.Event) -> None:
        while not stop.is_set():
            lags = await self.lags()
            phase.lag_samples.append(max((lag.seconds for lag in lags), default=0.0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)

    async def drained(self, expected_sends: int, since: float) -> float:
        """Wait until every send and status is out and every projection caught up; seconds after ``since``."""
        deadline = time.perf_counter() + DRAIN_TIMEOUT
        while time.perf_counter() < deadline:
            statuses_done = self.standin.statuses_posted >= len(STATUSES) * self.standin.sends.total
            if self.standin.sends.total >= expected_sends and statuses_done and await self.caught_up():
                return time.perf_counter() - since
            await asyncio.sleep(0.05)
        return float("nan")

    async def caught_up(self) -> bool:
        """Whether what the sends and statuses caused is all done: here, every projection caught up."""
        return all(lag.events == 0 for lag in await self.lags())

    async def measured(self, phase: Phase, load: asyncio.Future[None]) -> Phase:
        meter = self.stack.cpu_meter(self.processes, include_this_process=True)
        before = await self.transactions()
        own_before = self.own_transactions
        sends_before = self.standin.sends.total
        stop = asyncio.Event()
        sampler = asyncio.create_task(self.sample_lag(phase, stop))
        started = time.perf_counter()
        await load
        phase.seconds = time.perf_counter() - started
        ended = time.perf_counter()
        replies = self.standin.sends.total - sends_before
        phase.caught_up_after = await self.drained(self.standin.sends.total, ended)
        stop.set()
        await sampler
        phase.cpu = meter.since()
        await asyncio.sleep(1.5)  # backends report their transaction counts at most once a second
        phase.transactions = await self.transactions() - before - (self.own_transactions - own_before) - 1
        phase.label += f" ({replies / max(phase.messages, 1):.2f} sends per message)"
        return phase

    async def open_loop(self, rate: int, seconds: int) -> Phase:
        phase = Phase(f"{rate} customer messages/s for {seconds} s")
        total = rate * seconds
        customers = self.customers(max(1, int(rate * CUSTOMER_SPACING)))
        plan = [(customers[n % len(customers)], SCRIPT[(n // len(customers)) % len(SCRIPT)]) for n in range(total)]
        phase.messages = total

        async def load() -> None:
            tasks = []
            started = time.perf_counter()
            for n, (customer, text) in enumerate(plan):
                delay = started + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(self.message(customer, text, phase)))
            await asyncio.gather(*tasks)

        return await self.measured(phase, asyncio.ensure_future(load()))

    async def closed_loop(self, count: int, seconds: int) -> Phase:
        phase = Phase(f"saturation, {count} customers each waiting for its reply")
        deadline = time.perf_counter() + seconds

        async def customer_loop(customer: Customer) -> None:
            step = 0
            while time.perf_counter() < deadline:
                await self.message(customer, SCRIPT[step % len(SCRIPT)], phase)
                phase.messages += 1
                step += 1
                if step % len(SCRIPT) == 0:
                    customer.phone = f"5694{next(self.numbers):07d}"  # a new conversation

        async def load() -> None:
            await asyncio.gather(*(customer_loop(c) for c in self.customers(count)))

        return await self.measured(phase, asyncio.ensure_future(load()))


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] if ordered else float("nan")


def report(phase: Phase, processes: list[str] = PRODUCT, whole: str = "product") -> None:
    n = max(phase.messages, 1)
    print(f"\n-- {phase.label}")
    print(
        f"  webhook → send: {len(phase.latencies_ms) / phase.seconds:6.1f} messages/s, "
        f"p50 {statistics.median(phase.latencies_ms or [float('nan')]):6.1f} ms, "
        f"p99 {_percentile(phase.latencies_ms, 99):6.1f} ms ({len(phase.latencies_ms)} of {phase.messages}"
        f"{f', {phase.missing} never sent' if phase.missing else ''})"
    )
    if phase.lag_samples:
        print(
            f"  projection lag: max {max(phase.lag_samples):.2f} s while loaded; all caught up "
            f"{phase.caught_up_after:.2f} s after the last message"
        )
    else:
        print(f"  all processed {phase.caught_up_after:.2f} s after the last message")
    print(f"  PostgreSQL transactions per customer message: {phase.transactions / n:.1f}")
    heaviest_first = sorted(processes, key=lambda name: -phase.cpu[name])
    parts = ", ".join(f"{name} {phase.cpu[name] * 1000 / n:.2f}" for name in heaviest_first)
    print(f"  CPU ms per customer message: {whole} {cpu_ms(phase, processes):.2f} ({parts})")
    print(f"  load generator + Graph API stand-in: {phase.cpu['load generator'] * 1000 / n:.2f} ms")


def cpu_ms(phase: Phase, processes: list[str]) -> float:
    """CPU milliseconds per customer message of ``processes`` together."""
    return sum(phase.cpu[name] for name in processes) * 1000 / max(phase.messages, 1)


def services_env(standin: GraphStandIn) -> dict[str, str]:
    """The services' environment beside the stack's own: the sender talks to the stand-in."""
    return {
        "WHATSAPP_ACCESS_TOKEN": "bench-access-token",
        "WHATSAPP_API_BASE_URL": standin.base_url,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "OPERATOR_API_PORT": str(free_port()),
        "LOG_LEVEL": "WARNING",
        # A number on Meta's higher throughput tier: the default 80 sends/s would cap the saturation phase.
        "WHATSAPP_MESSAGES_PER_SECOND": "1000",
    }


async def store_for(stack: RunningStack) -> PostgresEventStore:
    # No session reset: the bench's own samples should cost the database as little as they can.
    return await PostgresEventStore.connect(stack.database_url, min_size=1, max_size=2, reset_sessions=False)


async def warm_up(bench: Bench, connections: int) -> None:
    """Opens the bench's connections, then a warm-up whose sends are all out."""
    await bench.open(connections)
    warm = Phase("warm-up")
    await asyncio.gather(*(bench.message(c, SCRIPT[0], warm) for c in bench.customers(20)))
    await bench.drained(bench.standin.sends.total, time.perf_counter())


async def warmed_up(stack: RunningStack, standin: GraphStandIn, connections: int) -> Bench:
    """A bench on ``stack`` with its connections open, after a warm-up whose sends are all out."""
    bench = Bench(stack, standin, await store_for(stack))
    await warm_up(bench, connections)
    return bench


async def run_phases(bench: Bench, whole: str) -> list[Phase]:
    """Every phase in turn, each reported as it ends; then the bench's connections and store closed."""
    phases: list[Phase] = []
    for rate, seconds in RATES:
        phases.append(await bench.open_loop(rate, seconds))
        report(phases[-1], bench.processes, whole)
    phases.append(await bench.closed_loop(SATURATION_CUSTOMERS, SATURATION_SECONDS))
    report(phases[-1], bench.processes, whole)
    while not bench.connections.empty():
        bench.connections.get_nowait().close()
    await bench.store.close()
    return phases


def new_standin(webhook_port: int) -> GraphStandIn:
    return GraphStandIn(latency=GRAPH_LATENCY, webhook_port=webhook_port, app_secret=BENCH_SECRET,
                        phone_number_id=PHONE_NUMBER_ID)  # fmt: skip


async def full_path() -> list[Phase]:
    """Every phase of the full path, reported as it goes."""
    port = free_port()
    standin = new_standin(port)
    await standin.start()
    try:
        with running(SERVICES, services_env(standin), ingress_port=port) as stack:
            return await run_phases(await warmed_up(stack, standin, 64), "product")
    finally:
        await standin.close()


def print_targets() -> None:
    print("\ntargets: product <= 6 ms CPU and PostgreSQL <= 2 ms and <= 10 transactions per customer message; "
          "p99 < 300 ms at 60 messages/s; read models caught up within 1 s; saturation >= 250 messages/s")


async def main() -> None:
    await full_path()
    print_targets()


if __name__ == "__main__":
    event_loop.run(main())


