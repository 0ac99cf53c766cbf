"""End to end with a slow LLM: a slow model must not slow anyone else down.

Runs `conectapro run ingress orchestrator llm_adapter` (LLM_ENABLED=true) against the local OpenAI-compatible
test server in a process of its own, and follows the event store: a message counts as handled when the
decision about it (its ``IntentExtracted``, committed with the reply) is visible. Three scenarios, each on a
fresh stack:

* **slow LLM**: every customer message is free text the rules leave incomplete, and the provider answers
  each call after 800 ms. Peak (customers sending several messages back to back) and a fixed 100
  messages/s; each customer's decisions must come in the order the customer wrote.
* **mixed**: at 100 messages/s, 30 % of the messages wait on a provider answering after 2 s; the other
  70 % are messages the rules understand, whose latency must not notice;
* **backlogs**: the same, but the 30 % come from 30 customers each writing every second, faster than their
  answers: their own later messages wait behind each slow one (order per customer), holding the
  partitions' in-flight slots (``INBOUND_CONCURRENCY_PER_PARTITION``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg

from bench.bench_llm import slow_server_process
from bench.bench_pipeline import Load, Message, _message, load_on, register_people, running_task
from bench.cpu import per_request_line
from bench.stack import RunningStack, running
from contracts.llm import UnderstandRequest
from infra import event_loop
from infra.jetstream import connect
from orchestrator.llm_requester import LlmRequester

SERVICES = ["ingress", "orchestrator", "llm_adapter"]
RATE = 100
SECONDS = 10
# The rules find the comuna but not the trade: the LLM is asked, each message of the conversation again.
LLM_TEXT = "la wea del living no prende nada, estoy en la florida"
# A complete first message: the rules understand it, the LLM is not asked.
RULES_TEXT = "hola, necesito un gasfiter en ñuñoa, se rompió la cañería"

_DECISIONS = """
SELECT stream_id, transaction_id, global_position, data->>'wamid' AS wamid, data->'llm'->>'outcome' AS outcome,
       (data->'llm'->>'latency_ms')::float AS llm_ms
FROM events
WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  AND type = 'IntentExtracted'
ORDER BY transaction_id, global_position
LIMIT 5000
"""


@dataclass
class Decisions:
    """When each message's decision became visible, what the LLM did, and each stream's order of them."""

    seen: dict[str, float] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)
    #: How long the LLM's answer took, as the adapter timed it (or the orchestrator, when it gave up).
    llm_ms: dict[str, float] = field(default_factory=dict)
    by_stream: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def follow(self, pool: asyncpg.Pool, after: tuple[int, int]) -> None:
        async with pool.acquire() as conn:
            while True:
                rows = await conn.fetch(_DECISIONS, *after)
                now = time.perf_counter()
                for row in rows:
                    self.seen[row["wamid"]] = now
                    self.outcomes[row["wamid"]] = row["outcome"] or "not asked"
                    self.by_stream[row["stream_id"]].append(row["wamid"])
                    if row["llm_ms"] is not None:
                        self.llm_ms[row["wamid"]] = row["llm_ms"]
                if rows:
                    after = (rows[-1]["transaction_id"], rows[-1]["global_position"])
                    self.arrived.set()
                else:
                    await asyncio.sleep(0.005)

    async def wait_for(self, wamids: list[str], timeout: float = 300) -> None:
        deadline = time.perf_counter() + timeout
        while not all(w in self.seen for w in wamids):
            if time.perf_counter() > deadline:
                missing = sum(w not in self.seen for w in wamids)
                raise TimeoutError(f"{missing} of {len(wamids)} messages were never decided")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), 1)


@dataclass
class Sent:
    message: Message
    wamid: str
    at: float = 0.0


@dataclass
class Run:
    """One scenario's messages, as each customer wrote them, and the load it drives them with."""

    load: Load
    decisions: Decisions
    customers: dict[str, list[Sent]] = field(default_factory=lambda: defaultdict(list))

    def add(self, port: int, phone: str, text: str) -> Sent:
        message = _message(port, phone, text)
        sent = Sent(message, _wamid(message))
        self.customers[message.stream_id].append(sent)
        return sent

    async def post(self, sent: Sent) -> None:
        conn = await self.load.pool.get()
        try:
            sent.at = time.perf_counter()
            status = await conn.send_reopening(sent.message.request)
        finally:
            self.load.pool.put_nowait(conn)
        assert status == 200, status

    def latencies_ms(self, sents: list[Sent]) -> list[float]:
        return sorted((self.decisions.seen[s.wamid] - s.at) * 1000 for s in sents)

    def out_of_order(self) -> int:
        """Customers whose decisions were committed in another order than they wrote."""
        return sum(
            [s.wamid for s in sents] != self.decisions.by_stream.get(stream, [])
            for stream, sents in self.customers.items()
        )

    def outcomes(self, sents: list[Sent]) -> str:
        counted = Counter(self.decisions.outcomes[s.wamid] for s in sents)
        return ", ".join(f"{k} {v}" for k, v in sorted(counted.items()))


def _wamid(message: Message) -> str:
    marker = b'"id":"wamid.bench.'
    body = message.request.raw
    start = body.index(marker) + len(b'"id":"')
    return body[start : body.index(b'"', start)].decode()


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _latency_line(label: str, run: Run, sents: list[Sent]) -> str:
    ms = run.latencies_ms(sents)
    line = (
        f"  {label}: {len(sents)} messages, webhook sent→decision committed p50 {_percentile(ms, 0.5):.0f} ms "
        f"p99 {_percentile(ms, 0.99):.0f} ms max {ms[-1]:.0f} ms; LLM: {run.outcomes(sents)}"
    )
    llm = sorted(run.decisions.llm_ms[s.wamid] for s in sents if s.wamid in run.decisions.llm_ms)
    if llm:
        line += f"; its answer p50 {_percentile(llm, 0.5):.0f} ms p99 {_percentile(llm, 0.99):.0f} ms"
    return line


async def at_fixed_rate(sents: list[Sent], post: Callable[[Sent], Awaitable[None]]) -> None:
    """Post ``sents`` at RATE per second; a customer's message waits for their previous one to be accepted."""
    previous: dict[str, asyncio.Task[None]] = {}

    async def after(earlier: asyncio.Task[None] | None, sent: Sent) -> None:
        if earlier is not None:
            await earlier
        await post(sent)

    started = time.perf_counter()
    for n, sent in enumerate(sents):
        delay = started + n / RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        previous[sent.message.stream_id] = asyncio.create_task(after(previous.get(sent.message.stream_id), sent))
    await asyncio.gather(*previous.values())


async def slow_llm(stack: RunningStack, load: Load, decisions: Decisions) -> None:
    port = stack.ingress_port
    # Peak: 200 customers, each writing 3 messages back to back (without waiting for a reply).
    peak = Run(load, decisions)
    scripts = [[peak.add(port, f"5693{n:07d}", LLM_TEXT) for _ in range(3)] for n in range(200)]

    async def customer(script: list[Sent]) -> None:
        for sent in script:
            await peak.post(sent)

    meter = stack.cpu_meter([*SERVICES, "nats-server", "postgres"], include_this_process=True)
    started = time.perf_counter()
    await asyncio.gather(*(customer(script) for script in scripts))
    every = [s for script in scripts for s in script]
    await decisions.wait_for([s.wamid for s in every])
    seconds = max(decisions.seen[s.wamid] for s in every) - started
    cpu = meter.since()
    print("== slow LLM: every message is free text the rules leave incomplete; the provider answers after 800 ms ==")
    print(
        f"peak, 200 customers x 3 messages back to back: {len(every) / seconds:.0f} messages/s decided; "
        f"customers whose order broke: {peak.out_of_order()} of {len(scripts)}"
    )
    print(_latency_line("all", peak, every))
    print(f"  {per_request_line(cpu, len(every))} (per message)")

    # Fixed rate: 250 customers in turn, one message each every 2.5 s.
    fixed = Run(load, decisions)
    sents = [fixed.add(port, f"5694{n % 250:07d}", LLM_TEXT) for n in range(RATE * SECONDS)]
    meter.restart()
    started = time.perf_counter()
    await at_fixed_rate(sents, fixed.post)
    await decisions.wait_for([s.wamid for s in sents])
    seconds = max(decisions.seen[s.wamid] for s in sents) - started
    cpu = meter.since()
    print(
        f"fixed {RATE} messages/s for {SECONDS} s (250 customers): {len(sents) / seconds:.0f} messages/s decided; "
        f"customers whose order broke: {fixed.out_of_order()} of {len(fixed.customers)}"
    )
    print(_latency_line("all", fixed, sents))
    print(f"  {per_request_line(cpu, len(sents))} (per message)")
    print("target: >= 100 messages/s with each customer's order kept")


async def mixed(stack: RunningStack, load: Load, decisions: Decisions, llm_customers: int = 100) -> None:
    """``llm_customers`` share the 30 %: 100 write every 3.3 s, slower than their answers come; 30 write
    every second, faster, so each has a backlog of its own messages waiting behind its slow one."""
    port = stack.ingress_port
    run = Run(load, decisions)
    sents: list[Sent] = []
    asking: list[Sent] = []
    rules: list[Sent] = []
    for n in range(RATE * SECONDS):
        if n % 10 < 3:  # customers waiting on the LLM, in turn
            sent = run.add(port, f"5695{len(asking) % llm_customers:07d}", LLM_TEXT)
            asking.append(sent)
        else:  # a new customer whose first message the rules understand
            sent = run.add(port, f"5696{n:07d}", RULES_TEXT)
            rules.append(sent)
        sents.append(sent)
    started = time.perf_counter()
    await at_fixed_rate(sents, run.post)
    await decisions.wait_for([s.wamid for s in sents])
    seconds = max(decisions.seen[s.wamid] for s in sents) - started
    every = RATE * 3 / 10 / llm_customers
    print(
        f"== mixed: 30 % of the messages wait on a provider answering after 2 s "
        f"({llm_customers} customers, each writing every {1 / every:.1f} s) =="
    )
    print(
        f"fixed {RATE} messages/s for {SECONDS} s: {len(sents) / seconds:.0f} messages/s decided; "
        f"customers whose order broke: {run.out_of_order()} of {len(run.customers)}"
    )
    print(_latency_line("understood by the rules", run, rules))
    print(_latency_line("waiting on the LLM     ", run, asking))
    print("target: the messages the rules understand keep p99 < 150 ms")


async def scenario(delay: float, drive: Callable[[RunningStack, Load, Decisions], Awaitable[None]]) -> None:
    with slow_server_process(delay) as base_url:
        env = {"LLM_ENABLED": "true", "OPENAI_BASE_URL": base_url, "OPENAI_MODEL": "stub-model"}
        with running(SERVICES, extra_env=env) as stack:
            async with load_on(stack, 64) as load:
                await register_people(load.store, _scenario_phones())
                decisions = Decisions()
                after = (load.start.transaction_id, load.start.global_position)
                async with running_task(decisions.follow(load.store.pool, after)):
                    await _until_ready(stack, load, decisions)
                    await drive(stack, load, decisions)


async def _until_ready(stack: RunningStack, load: Load, decisions: Decisions) -> None:
    """Services start slowly on a loaded machine: wait until the adapter answers and a message goes through."""
    nc = await connect(stack.nats_url, "bench-llm-ready")
    try:
        for _ in range(600):  # a fresh requester each time: one remembers "off" for a while
            reply = await LlmRequester(nc, 5).understand(UnderstandRequest(customer_ref="ready", text="hola"))
            if reply.no_result is None:
                break
            await asyncio.sleep(0.5)
    finally:
        await nc.close()
    warm_up = Run(load, decisions)
    sent = warm_up.add(stack.ingress_port, "56990000000", "hola")
    await warm_up.post(sent)
    await decisions.wait_for([sent.wamid])


def _scenario_phones() -> list[str]:
    """Every customer the scenarios write as: their person keys are made before the clock starts."""
    phones = [f"5693{n:07d}" for n in range(200)] + [f"5694{n:07d}" for n in range(250)]
    phones += [f"5695{n:07d}" for n in range(100)] + [f"5696{n:07d}" for n in range(RATE * SECONDS)]
    return [*phones, "56990000000"]


async def mixed_with_backlogs(stack: RunningStack, load: Load, decisions: Decisions) -> None:
    await mixed(stack, load, decisions, llm_customers=30)


SCENARIOS = {"slow": (0.8, slow_llm), "mixed": (2.0, mixed), "backlogs": (2.0, mixed_with_backlogs)}


async def main() -> None:
    # `python -m bench.bench_llm_pipeline [slow|mixed|backlogs]`: all by default.
    for name in sys.argv[1:] or SCENARIOS:
        await scenario(*SCENARIOS[name])


if __name__ == "__main__":
    event_loop.run(main())
