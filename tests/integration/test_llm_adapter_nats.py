"""The adapter as a NATS request/reply service: FastStream's TestNatsBroker, then the same against real NATS.

Each request is answered once, with a typed reply; a request that does not validate still gets a reply;
with no adapter running, the caller learns it at once ("no responders" → off); replicas in the queue group
share the requests. The AsyncAPI document in docs/ is the one the code generates.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from faststream.nats import NatsBroker, TestNatsBroker
from prometheus_client import REGISTRY

from conectapro import service_table  # noqa: F401  (registers the services)
from contracts.llm import (
    ClassifyTopicReply,
    ClassifyTopicRequest,
    LlmReply,
    NoResultReason,
    RephraseReply,
    RephraseRequest,
    UnderstandReply,
    UnderstandRequest,
)
from contracts.subjects import LLM_CLASSIFY_TOPIC_SUBJECT, LLM_REPHRASE_SUBJECT, LLM_UNDERSTAND_SUBJECT
from infra.jetstream import connect
from infra.metrics_server import exposition
from infra.runtime import load, serve
from infra.settings import Settings
from llm_adapter.app import build_broker, start_serving
from llm_adapter.asyncapi import document_text
from llm_adapter.cost_control import CostControl, ProcessLedger
from llm_adapter.gateway import Gateway
from llm_adapter.llm_client import CallSpan, LlmClient, no_span
from orchestrator.llm_requester import OFF_RECHECK_SECONDS, LlmRequester
from tests.conftest import Infra
from tests.llm_support import until_adapter_answers
from tests.openai_stub import OpenAIStub, OpenAIStubServer, completion, intent_json

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


async def gateway_for(openai_server: OpenAIStubServer, call_span: CallSpan = no_span) -> Gateway:
    client = LlmClient.connect(openai_server.base_url, None, "stub-model", timeout_seconds=3, call_span=call_span)
    cost = CostControl(100_000, 100, ProcessLedger(), wall_clock=lambda: datetime.now(UTC))
    return Gateway(client, cost)


@pytest.fixture(params=["in_memory", "real_nats"])
async def broker(
    request: pytest.FixtureRequest, openai_server: OpenAIStubServer, infra: Infra
) -> AsyncIterator[NatsBroker]:
    gateway = await gateway_for(openai_server)
    async with TestNatsBroker(build_broker(gateway, infra.nats_url), with_real=request.param == "real_nats") as br:
        yield br
    await gateway.client.close()


async def ask(broker: NatsBroker, subject: str, payload: object, reply_type: type[LlmReply]) -> LlmReply:
    message = await broker.request(payload, subject, timeout=5)
    return reply_type.model_validate_json(message.body)


async def test_an_understand_request_gets_a_typed_reply(broker: NatsBroker, stub: OpenAIStub) -> None:
    stub.then(completion(intent_json(0.95, service="Electricidad", comuna="Maipú")))
    request = UnderstandRequest(customer_ref="c1", text="se cortó la luz en maipú", expecting="service")

    reply = await ask(broker, LLM_UNDERSTAND_SUBJECT, request, UnderstandReply)

    assert isinstance(reply, UnderstandReply) and reply.no_result is None and reply.intent is not None
    assert (reply.intent.service, reply.intent.comuna) == ("Electricidad", "Maipú")


async def test_classify_and_rephrase_answer_on_their_own_subjects(broker: NatsBroker, stub: OpenAIStub) -> None:
    stub.then(completion('{"topic": "asks_for_person", "confidence": 0.9}'), completion("¡Listo! Te aviso pronto."))

    topic = await ask(broker, LLM_CLASSIFY_TOPIC_SUBJECT, ClassifyTopicRequest(customer_ref="c", text="¿eres humano?"),
                      ClassifyTopicReply)  # fmt: skip
    reworded = await ask(broker, LLM_REPHRASE_SUBJECT, RephraseRequest(customer_ref="c", text="Listo. Te aviso."),
                         RephraseReply)  # fmt: skip

    assert isinstance(topic, ClassifyTopicReply) and topic.classification is not None
    assert topic.classification.topic == "asks_for_person"
    assert isinstance(reworded, RephraseReply) and reworded.text == "¡Listo! Te aviso pronto."


async def test_a_request_that_does_not_validate_still_gets_a_reply(broker: NatsBroker, stub: OpenAIStub) -> None:
    reply = await ask(broker, LLM_UNDERSTAND_SUBJECT, {"customer_ref": "c1", "text": ""}, UnderstandReply)

    assert reply.no_result is NoResultReason.BAD_REQUEST and stub.requests == []


async def test_a_provider_failure_is_a_reply_not_silence(broker: NatsBroker, stub: OpenAIStub) -> None:
    stub.then(completion("no json at all"))

    reply = await ask(broker, LLM_UNDERSTAND_SUBJECT, UnderstandRequest(customer_ref="c", text="hola"), UnderstandReply)

    assert reply.no_result is NoResultReason.INVALID_JSON and reply.raw_output == "no json at all"


async def test_with_no_adapter_running_the_caller_is_told_off_at_once(infra: Infra) -> None:
    nc = await connect(infra.nats_url, "test-llm-caller")
    try:
        requester = LlmRequester(nc, budget_seconds=3)
        started = time.monotonic()
        reply = await requester.understand(UnderstandRequest(customer_ref="c", text="hola", budget_ms=2900))
    finally:
        await nc.close()

    assert reply.no_result is NoResultReason.OFF and reply.detail == "no responders"
    assert time.monotonic() - started < 1.0  # no waiting for the budget


async def test_once_told_off_the_caller_does_not_ask_nats_again_for_a_while(infra: Infra) -> None:
    now = [100.0]
    nc = await connect(infra.nats_url, "test-llm-caller")
    try:
        requester = LlmRequester(nc, budget_seconds=3, clock=lambda: now[0])
        request = UnderstandRequest(customer_ref="c", text="hola")
        first = await requester.understand(request)
        now[0] += OFF_RECHECK_SECONDS - 0.1
        second = await requester.understand(request)
        now[0] += 0.2
        third = await requester.understand(request)
    finally:
        await nc.close()

    assert [r.detail for r in (first, second, third)] == ["no responders", "no responders (recently)", "no responders"]
    assert all(r.no_result is NoResultReason.OFF for r in (first, second, third))


async def test_the_caller_gets_the_adapters_timeout_within_its_budget(
    infra: Infra, openai_server: OpenAIStubServer, stub: OpenAIStub
) -> None:
    stub.default = lambda _: completion(intent_json(0.99), delay=10)
    gateway = await gateway_for(openai_server)
    nc = await connect(infra.nats_url, "test-llm-caller")
    try:
        async with build_broker(gateway, infra.nats_url) as adapter:
            await start_serving(adapter)
            await until_adapter_answers(infra.nats_url)
            requester = LlmRequester(nc, budget_seconds=1.0)
            started = time.monotonic()
            reply = await requester.understand(
                UnderstandRequest(customer_ref="c", text="hola", budget_ms=requester.budget_ms())
            )
            elapsed = time.monotonic() - started
    finally:
        await nc.close()
        await gateway.client.close()

    # Normally the adapter's own reply ("budget exhausted"), sent before the caller stops waiting.
    assert reply.no_result is NoResultReason.TIMEOUT
    assert elapsed < 1.0 + 0.5  # the caller's budget, plus a loaded loop's lag


async def test_replicas_in_the_queue_group_share_the_requests_and_each_is_answered_once(
    infra: Infra, openai_server: OpenAIStubServer, stub: OpenAIStub
) -> None:
    stub.default = lambda _: completion(intent_json(0.9), delay=0.05)
    gateways = [await gateway_for(openai_server), await gateway_for(openai_server)]
    nc = await connect(infra.nats_url, "test-llm-caller")
    try:
        async with build_broker(gateways[0], infra.nats_url) as one, build_broker(gateways[1], infra.nats_url) as two:
            await start_serving(one)
            await start_serving(two)
            await until_adapter_answers(infra.nats_url)
            requester = LlmRequester(nc, budget_seconds=5)
            replies = await asyncio.gather(
                *(requester.understand(UnderstandRequest(customer_ref=f"c{i}", text="hola")) for i in range(40))
            )
    finally:
        await nc.close()
        for gateway in gateways:
            await gateway.client.close()

    assert all(reply.no_result is None for reply in replies)
    assert len(stub.requests) == 40  # each request reached the provider once: one replica answered it
    served = [gateway.cost.calls_let_out for gateway in gateways]
    assert sum(served) == 40 and min(served) > 0


def test_the_committed_asyncapi_document_is_the_one_the_code_generates() -> None:
    committed = (REPO / "docs" / "asyncapi" / "llm_adapter.json").read_text()

    assert committed == document_text(), "regenerate: python -m llm_adapter.asyncapi > docs/asyncapi/llm_adapter.json"
    operations = json.loads(committed)["operations"]
    assert set(operations) == {"understand", "classify_topic", "rephrase"}
    assert all("reply" in operation for operation in operations.values())


async def test_the_llm_adapter_service_serves_until_the_runtime_stops(
    infra: Infra, openai_server: OpenAIStubServer, stub: OpenAIStub
) -> None:
    stub.default = lambda _: completion(intent_json(0.9, service="Cerrajeria"))
    settings = Settings(_env_file=None, llm_enabled=True, openai_base_url=openai_server.base_url)
    stopping = asyncio.Event()
    service = asyncio.create_task(serve(load("llm_adapter"), settings.with_servers("", infra.nats_url), stopping))
    nc = await connect(infra.nats_url, "test-llm-caller")
    try:
        requester = LlmRequester(nc, budget_seconds=3)
        request = UnderstandRequest(customer_ref="c", text="me quedé afuera, perdí las llaves")
        reply = await requester.understand(request)
        while reply.no_result is NoResultReason.OFF:  # until the service has subscribed
            await asyncio.sleep(0.05)
            reply = await requester.understand(request)
        stopping.set()
        await asyncio.wait_for(service, timeout=10)
        after = await requester.understand(request)
    finally:
        await nc.close()

    assert reply.intent is not None and reply.intent.service == "Cerrajeria"
    assert after.no_result is NoResultReason.OFF
    # Its answers are on the service's METRICS_PORT, as every service's metrics are.
    assert b'llm_answers_total{outcome="ok",task="understand"}' in exposition(REGISTRY)
