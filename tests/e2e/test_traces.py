"""One trace per inbound message, from the webhook to the Graph API call, across NATS and the event store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from nats.aio.client import Client as NATS
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from infra import telemetry
from orchestrator.identity import person_key
from tests.conftest import Infra
from tests.e2e.pipeline import Pipeline, running_pipeline

CUSTOMER = "56911113333"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert telemetry.setup_tracing("e2e", processor=SimpleSpanProcessor(exporter))
    try:
        yield exporter
    finally:
        telemetry.shutdown_tracing()


@pytest.fixture
async def traced_pipeline(
    spans: InMemorySpanExporter, migrated_database: str, nats_client: NATS, infra: Infra
) -> AsyncIterator[Pipeline]:
    async with running_pipeline(migrated_database, nats_client, infra.nats_url) as pipeline:
        yield pipeline


def _children_of(parent: ReadableSpan, spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def _parent_of(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> ReadableSpan:
    assert span.parent is not None, f"{span.name} has no parent"
    parent = by_id.get(span.parent.span_id)
    assert parent is not None, f"the parent of {span.name} was not recorded"
    return parent


async def _finished(exporter: InMemorySpanExporter, name: str, timeout: float = 15.0) -> list[ReadableSpan]:
    """Every span recorded, once one named ``name`` has ended (spans are recorded as they end)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        finished = list(exporter.get_finished_spans())
        if any(span.name == name for span in finished):
            return finished
        await asyncio.sleep(0.05)
    raise AssertionError(f"no span {name!r} ended within {timeout} s")


async def test_one_message_is_one_trace_from_the_webhook_to_the_graph_api_call(
    traced_pipeline: Pipeline, spans: InMemorySpanExporter
) -> None:
    await traced_pipeline.says(CUSTOMER, "hola, se me rompió la cañería del baño, estoy en ñuñoa")
    await traced_pipeline.outbox(CUSTOMER, 1)
    finished = await _finished(spans, "reply send")

    [send] = [span for span in finished if span.name == "reply send"]
    trace_id = send.context.trace_id
    in_trace = [span for span in finished if span.context.trace_id == trace_id]
    by_id = {span.context.span_id: span for span in in_trace}

    # Graph API call ← the send ← the decision recorded in the events ← the consumer ← the publish ← the webhook
    [graph_call] = [s for s in _children_of(send, in_trace) if s.kind == SpanKind.CLIENT and s.name == "POST"]
    assert graph_call.attributes is not None and str(graph_call.attributes.get("http.url", "")).endswith("/messages"), (
        graph_call.attributes
    )
    consumer = _parent_of(send, by_id)
    assert (consumer.name, consumer.kind) == ("INBOUND process", SpanKind.CONSUMER)
    publish = _parent_of(consumer, by_id)
    assert (publish.name, publish.kind) == ("conectapro.inbound publish", SpanKind.PRODUCER)
    webhook = _parent_of(publish, by_id)
    assert (webhook.name, webhook.kind) == ("POST /webhook", SpanKind.SERVER)

    # The event store append happened inside the decision's span (asyncpg's instrumentation).
    queries = _children_of(consumer, in_trace)
    statements = [str((s.attributes or {}).get("db.statement", s.name)) for s in queries]
    assert any("eventstore_append" in statement for statement in statements), statements

    # The decision's events carry the trace, as the sender read it.
    stream = await traced_pipeline.store.read_stream(f"customer-{person_key(CUSTOMER)}")
    [queued] = [event for event in stream if event.type == "ReplyQueued"]
    assert queued.metadata.trace_id == format(trace_id, "032x")
    assert queued.metadata.span_id == format(consumer.context.span_id, "016x")
