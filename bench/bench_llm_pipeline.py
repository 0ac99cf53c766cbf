"""End to end with a slow LLM: every message is free text the rules leave incomplete, and the provider
answers each call after 800 ms. Webhook accepted → ``ReplyQueued`` committed, for many customers at once.

Runs `conectapro run ingress orchestrator llm_adapter` (LLM_ENABLED=true) against the local OpenAI-compatible
test server in a process of its own. The target (issue "LLM adapter") is >= 100 messages/s with each
customer's order kept; the orchestrator handles one message at a time per partition, so the figure here
shows what that costs until per-customer concurrency replaces per-partition serialisation.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections import Counter

from bench.bench_llm import slow_server_process
from bench.bench_pipeline import Waiters, _follow, _message, _one
from bench.http_load import Connection
from bench.stack import running
from contracts.llm import UnderstandRequest
from eventstore import Checkpoint, PostgresEventStore
from infra import event_loop
from infra.jetstream import connect
from orchestrator.llm_requester import LlmRequester

SLOW_PROVIDER_SECONDS = 0.8
CUSTOMERS = 160
# The rules find the comuna but not the trade: the LLM is asked, and its answer is used.
TEXT = "la wea del living no prende nada, estoy en la florida"


async def measure(base_url: str) -> None:
    env = {"LLM_ENABLED": "true", "OPENAI_BASE_URL": base_url, "OPENAI_MODEL": "stub-model"}
    with running(["ingress", "orchestrator", "llm_adapter"], extra_env=env) as stack:
        port = stack.ingress_port
        store = await PostgresEventStore.connect(stack.database_url, max_size=3)
        start = Checkpoint.START
        while batch := await store.read_all(start, limit=5000):
            start = Checkpoint.of(batch[-1])
        waiters = Waiters()
        follower = asyncio.create_task(_follow(store.pool, waiters, start))
        connections = [await Connection.open("127.0.0.1", port) for _ in range(32)]
        pool: asyncio.Queue[Connection] = asyncio.Queue()
        for conn in connections:
            pool.put_nowait(conn)
        messages = [_message(port, f"5693{n + 1:07d}", TEXT) for n in range(CUSTOMERS)]
        await _until_ready(stack.nats_url, port, waiters, pool)

        async def send(index: int) -> float:
            message = messages[index]
            committed = waiters.expect(message.stream_id)
            conn = await pool.get()
            sent = time.perf_counter()
            try:  # the connection goes back once accepted: the reply may take longer than a keep-alive
                status = await conn.send(message.request)
            finally:
                pool.put_nowait(conn)
            assert status == 200, status
            return (await asyncio.wait_for(committed, timeout=300) - sent) * 1000

        started = time.perf_counter()
        latencies = await asyncio.gather(*(send(i) for i in range(CUSTOMERS)))
        seconds = time.perf_counter() - started
        outcomes: Counter[str] = Counter()
        after = start
        while batch := await store.read_all(after, limit=5000):
            after = Checkpoint.of(batch[-1])
            for event in batch:
                if event.type == "IntentExtracted":
                    outcomes[(event.data.get("llm") or {}).get("outcome", "not asked")] += 1
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        for conn in connections:
            conn.close()
        await store.close()
    print("== end to end, every message asking an LLM that answers after 800 ms ==")
    print(
        f"{CUSTOMERS} customers at once: {CUSTOMERS / seconds:.1f} messages/s; webhook sent→ReplyQueued committed "
        f"p50 {statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms"
    )
    print("LLM outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    print("target: >= 100 messages/s (needs per-customer, not per-partition, ordering in the orchestrator)")


async def _until_ready(nats_url: str, port: int, waiters: Waiters, pool: asyncio.Queue[Connection]) -> None:
    """Services start slowly on a loaded machine: wait until the adapter answers and a message goes through."""
    nc = await connect(nats_url, "bench-llm-ready")
    try:
        for _ in range(600):  # a fresh requester each time: one remembers "off" for a while
            reply = await LlmRequester(nc, 5).understand(UnderstandRequest(customer_ref="ready", text="hola"))
            if reply.no_result is None:
                break
            await asyncio.sleep(0.5)
    finally:
        await nc.close()
    warm_up = _message(port, "56930000000", "hola")
    conn = await pool.get()
    try:
        await _one(conn, warm_up, waiters)
    finally:
        pool.put_nowait(conn)


async def main() -> None:
    with slow_server_process(SLOW_PROVIDER_SECONDS) as base_url:
        await measure(base_url)


if __name__ == "__main__":
    event_loop.run(main())
