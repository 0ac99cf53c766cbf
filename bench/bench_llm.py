"""The LLM layer: how often it is needed, what it costs when it is off, what one call carries, and whether
one adapter keeps up with a slow provider.

* share of the shipped corpus (169 free-text Chilean messages) the rules leave to the LLM;
* the added latency of the understanding step when LLM_ENABLED is true but the adapter is not running
  (NATS answers "no responders"), against the rules alone, over messages that would ask the LLM;
* characters and tokens per call (prompt and completion) with the shipped prompts; the local test server
  reports fixed token counts, so tokens are estimated from characters (about 4 per token) and the real
  figures come from `conectapro llm eval` against the provider;
* one adapter process against a provider answering every call after 800 ms: answers per second;
* a rewording (LLM_REPHRASE_ENABLED): characters per call, the adapter's time and CPU around an instant
  provider, and the fact check's cost per reply.

Embedded NATS and the local OpenAI-compatible test server; nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conectapro.llm_cli import SHIPPED_CORPUS
from conectapro.llm_eval import InProcessLanguageModel, load_corpus
from contracts.inbound import InboundMessage
from contracts.llm import RephraseRequest, UnderstandRequest
from contracts.rewording import rewording_problems
from infra import event_loop
from infra.embedded import EmbeddedNats
from infra.gc_tuning import tune_for_service
from infra.jetstream import connect
from llm_adapter.app import build_broker, start_serving
from llm_adapter.cost_control import CostControl, ProcessLedger
from llm_adapter.gateway import Gateway
from llm_adapter.llm_client import LlmClient
from llm_adapter.prompt_templates import DATA_CLOSE, DATA_OPEN
from llm_adapter.rephraser import Rephraser
from orchestrator.language_model import understand_message
from orchestrator.llm_requester import LlmRequester
from orchestrator.understanding import understand_text
from orchestrator.understanding.llm_merge import needs_llm
from tests.openai_stub import OpenAIStubServer, Scripted, completion, intent_json

ROUNDS = 20  # passes over the corpus messages that ask the LLM, for the fallback latency
SLOW_PROVIDER_SECONDS = 0.8
SLOW_REQUESTS = 400
CHARS_PER_TOKEN = 4.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def corpus_share() -> list[tuple[str, str | None]]:
    cases = load_corpus(SHIPPED_CORPUS)
    asked = [
        (c.text, c.expecting) for c in cases if needs_llm(understand_text(c.text, c.expecting), c.expecting, c.text)
    ]
    print(
        f"corpus: {len(asked)} of {len(cases)} free-text messages need the LLM "
        f"({100 * len(asked) / len(cases):.1f} %; target <= 30 %)"
    )
    return asked


async def fallback_latency(nats_url: str, asked: list[tuple[str, str | None]]) -> None:
    nc = await connect(nats_url, "bench-llm")
    requester = LlmRequester(nc, budget_seconds=3)
    messages = [(InboundMessage(wamid=f"b{i}", type="text", text=t, raw={}), e) for i, (t, e) in enumerate(asked)]
    off: list[float] = []
    rules: list[float] = []
    for _ in range(ROUNDS):
        for message, expecting in messages:
            started = time.perf_counter()
            understood = await understand_message(message, expecting, requester, customer_ref="bench")
            off.append((time.perf_counter() - started) * 1000)
            assert understood.llm is not None and understood.llm.outcome == "off"
            started = time.perf_counter()
            await understand_message(message, expecting, None)
            rules.append((time.perf_counter() - started) * 1000)
    await nc.close()
    added = [a - b for a, b in zip(off, rules, strict=True)]
    print(f"adapter not running (no responders), {len(off)} understandings that would ask the LLM:")
    print(f"  rules alone          p50 {statistics.median(rules):.2f} ms p99 {_percentile(rules, 0.99):.2f} ms")
    print(f"  with the LLM enabled p50 {statistics.median(off):.2f} ms p99 {_percentile(off, 0.99):.2f} ms")
    p99_gap = _percentile(off, 0.99) - _percentile(rules, 0.99)
    print(
        f"  added                p50 {statistics.median(added):.2f} ms, p99 of the pairs "
        f"{_percentile(added, 0.99):.2f} ms, difference of the p99s {p99_gap:.2f} ms (target p99 < 5 ms)"
    )


async def per_call(server: OpenAIStubServer, asked: list[tuple[str, str | None]]) -> None:
    server.stub.default = lambda _: completion(intent_json(0.9, service="Gasfiteria"))
    client = LlmClient.connect(server.base_url, None, "stub-model", timeout_seconds=3)
    gateway = Gateway(client, CostControl(10**9, 10**6, ProcessLedger(), wall_clock=lambda: datetime.now(UTC)))
    model = InProcessLanguageModel(gateway, 3)
    prompt: list[int] = []
    answer: list[int] = []
    for i, (text, expecting) in enumerate(asked):
        reply = await model.understand(UnderstandRequest(customer_ref=f"b{i}", text=text, expecting=expecting))
        prompt.append(reply.usage.prompt_chars)
        answer.append(reply.usage.completion_chars)
    await client.close()
    p, c = statistics.mean(prompt), statistics.mean(answer)
    print(
        f"per understanding call: prompt {p:.0f} chars (~{p / CHARS_PER_TOKEN:.0f} tokens), completion {c:.0f} "
        f"chars (~{c / CHARS_PER_TOKEN:.0f} tokens) with the shipped prompts; structured answer capped at 200 tokens"
    )


#: Bodies of replies as the bot sends them to customers.
REPLY_BODIES = (
    "¡Hola! Te ayudo a conseguir un gasfiter en Ñuñoa. ¿Qué tan urgente es?",
    "¿En qué dirección es el trabajo? (calle y número)",
    "¡Listo! Estamos buscando un técnico disponible. Te aviso apenas uno acepte.",
    'Pedro Soto aceptó tu solicitud y te contactará al +56 9 8765 4321. Puedes escribir "estado" cuando quieras.',
)
REPHRASE_CALLS = 400


async def rephrase_cost(server: OpenAIStubServer) -> None:
    def warmer(request: dict[str, Any]) -> Scripted:
        slot = str(request["messages"][-1]["content"])
        return completion(
            "¡Buenísimo! " + slot[slot.index(DATA_OPEN) + len(DATA_OPEN) : slot.index(DATA_CLOSE)].strip()
        )

    server.stub.default = warmer
    client = LlmClient.connect(server.base_url, None, "stub-model", timeout_seconds=3)
    rephraser = Rephraser(
        Gateway(client, CostControl(10**9, 10**6, ProcessLedger(), wall_clock=lambda: datetime.now(UTC)))
    )
    asks = [
        RephraseRequest(customer_ref=f"r{i}", text=REPLY_BODIES[i % len(REPLY_BODIES)]) for i in range(REPHRASE_CALLS)
    ]
    await rephraser.rephrase(asks[0])  # warm-up
    started, cpu = time.perf_counter(), time.process_time()
    replies = [await rephraser.rephrase(ask) for ask in asks]
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    await client.close()
    used = sum(r.text is not None for r in replies)
    prompt = statistics.mean(r.usage.prompt_chars for r in replies)
    answer = statistics.mean(r.usage.completion_chars for r in replies)
    checks = 2000
    check_started = time.perf_counter()
    for i in range(checks):
        original = REPLY_BODIES[i % len(REPLY_BODIES)]
        rewording_problems(original, "¡Buenísimo! " + original, max_chars=4096)
    check_us = (time.perf_counter() - check_started) / checks * 1e6
    print(
        f"per rewording: prompt {prompt:.0f} chars (~{prompt / CHARS_PER_TOKEN:.0f} tokens), completion {answer:.0f} "
        f"chars (~{answer / CHARS_PER_TOKEN:.0f} tokens); {used}/{len(replies)} used; with an instant provider "
        f"{1000 * seconds / len(replies):.2f} ms and {1000 * cpu / len(replies):.2f} ms CPU per call (adapter, "
        f"SDK and the test server in this process); fact check {check_us:.0f} µs per reply"
    )


@contextmanager
def slow_server_process(delay: float) -> Iterator[str]:
    """The test server in a process of its own (its CPU is not the adapter's), answering after ``delay``."""
    ready = Path(tempfile.mkdtemp(prefix="conectapro-bench-llm-")) / "url"
    process = subprocess.Popen([sys.executable, "-m", "tests.openai_stub", str(delay), str(ready)])
    try:
        while not ready.exists() or not ready.read_text():
            if process.poll() is not None:
                raise RuntimeError("the OpenAI test server exited")
            time.sleep(0.05)
        yield ready.read_text()
    finally:
        process.terminate()
        process.wait(10)


async def slow_provider(nats_url: str, base_url: str) -> None:
    client = LlmClient.connect(base_url, None, "stub-model", timeout_seconds=3)
    gateway = Gateway(client, CostControl(10**9, 10**6, ProcessLedger(), wall_clock=lambda: datetime.now(UTC)))
    nc = await connect(nats_url, "bench-llm")
    async with build_broker(gateway, nats_url) as broker:
        await start_serving(broker)
        requester = LlmRequester(nc, budget_seconds=10)
        await requester.understand(UnderstandRequest(customer_ref="warm-up", text="hola", budget_ms=9000))
        started, cpu = time.perf_counter(), time.process_time()
        replies = await asyncio.gather(
            *(
                requester.understand(UnderstandRequest(customer_ref=f"c{i}", text="hola", budget_ms=9000))
                for i in range(SLOW_REQUESTS)
            )
        )
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    await nc.close()
    await client.close()
    ok = sum(r.no_result is None for r in replies)
    print(
        f"one adapter, provider answering after {SLOW_PROVIDER_SECONDS * 1000:.0f} ms: {ok}/{SLOW_REQUESTS} answered "
        f"in {seconds:.1f} s = {ok / seconds:.0f} answers/s; CPU {1000 * cpu / max(ok, 1):.1f} ms per answer "
        "(adapter and caller in this process; the server in its own)"
    )


async def main() -> None:
    tune_for_service()  # as every service process does
    print("== LLM layer ==")
    asked = corpus_share()
    nats = EmbeddedNats(Path(tempfile.mkdtemp(prefix="conectapro-bench-llm-")))
    nats_url = nats.start()
    try:
        await fallback_latency(nats_url, asked)
        async with OpenAIStubServer() as server:
            await per_call(server, asked)
            await rephrase_cost(server)
        with slow_server_process(SLOW_PROVIDER_SECONDS) as base_url:
            await slow_provider(nats_url, base_url)
    finally:
        nats.stop()


if __name__ == "__main__":
    event_loop.run(main())
