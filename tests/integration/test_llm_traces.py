"""The LLM hop of a trace: the orchestrator's request carries the context over core NATS, the adapter's
FastStream telemetry middleware continues it, and the call to the provider nests under the adapter's span."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from conectapro.llm_adapter_service import nats_telemetry
from contracts.llm import UnderstandRequest
from contracts.subjects import LLM_UNDERSTAND_SUBJECT
from infra import telemetry
from infra.jetstream import connect
from llm_adapter.app import build_broker
from orchestrator.llm_requester import LlmRequester
from tests.conftest import Infra
from tests.integration.test_llm_adapter_nats import gateway_for
from tests.llm_support import until_adapter_answers
from tests.openai_stub import OpenAIStub, OpenAIStubServer, completion, intent_json


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    telemetry.setup_tracing("llm", processor=SimpleSpanProcessor(exporter))
    try:
        yield exporter
    finally:
        telemetry.shutdown_tracing()


async def test_the_adapter_and_the_provider_call_continue_the_requesters_trace(
    spans: InMemorySpanExporter, infra: Infra, openai_server: OpenAIStubServer, stub: OpenAIStub
) -> None:
    stub.default = lambda _: completion(intent_json(0.95))
    gateway = await gateway_for(openai_server, call_span=telemetry.client_span)
    nc = await connect(infra.nats_url, "test-llm-trace")
    try:
        async with build_broker(gateway, infra.nats_url, middlewares=nats_telemetry()) as adapter:
            await adapter.start()
            await until_adapter_answers(infra.nats_url)  # subscribed: a request now reaches it, not "no responders"
            with telemetry.tracer().start_as_current_span("INBOUND process") as decision:
                reply = await LlmRequester(nc, budget_seconds=5).understand(
                    UnderstandRequest(customer_ref="c", text="se me rompió la cañería, estoy en ñuñoa")
                )
    finally:
        await nc.close()
        await gateway.client.close()
    assert reply.no_result is None

    trace_id = decision.get_span_context().trace_id
    finished = {span.name: span for span in spans.get_finished_spans() if span.context.trace_id == trace_id}

    def parent_of(name: str) -> str:
        parent = finished[name].parent
        assert parent is not None, name
        [parent_name] = [n for n, span in finished.items() if span.context.span_id == parent.span_id]
        return parent_name

    # the decision → the request (context in its headers) → the adapter's handling → the provider's call
    assert parent_of(f"{LLM_UNDERSTAND_SUBJECT} publish") == "INBOUND process"
    assert parent_of(f"{LLM_UNDERSTAND_SUBJECT} process") == f"{LLM_UNDERSTAND_SUBJECT} publish"
    assert finished[f"{LLM_UNDERSTAND_SUBJECT} process"].kind == SpanKind.CONSUMER
    assert parent_of("chat stub-model") == f"{LLM_UNDERSTAND_SUBJECT} process"
    assert finished["chat stub-model"].kind == SpanKind.CLIENT
