"""One trace per inbound message, from the webhook to the Graph API call, across NATS and the event store;
a timer continues the trace of the conversation that set it; polling starts no trace of its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from nats.aio.client import Client as NATS
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from infra import telemetry
from infra.settings import CloserSettings
from tests.conftest import Infra
from tests.e2e.pipeline import Pipeline, running_pipeline

CUSTOMER = "56911113333"
#: A draft expires this soon after its last message: the closer's timer fires while the test waits.
DRAFT_ABANDONED_HOURS = 3 / 3600


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


@pytest.fixture
async def pipeline_with_short_drafts(
    spans: InMemorySpanExporter, migrated_database: str, nats_client: NATS, infra: Infra
) -> AsyncIterator[Pipeline]:
    closer = CloserSettings(draft_abandoned_hours=DRAFT_ABANDONED_HOURS, tick_seconds=0.2)
    async with running_pipeline(migrated_database, nats_client, infra.nats_url, closer=closer) as pipeline:
        yield pipeline


def _is_query(span: ReadableSpan) -> bool:
    attributes = span.attributes or {}
    return "db.system" in attributes or "db.system.name" in attributes


def _children_of(parent: ReadableSpan, spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def _parent_of(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> ReadableSpan:
    assert span.parent is not None, f"{span.name} has no parent"
    parent = by_id.get(span.parent.span_id)
    assert parent is not None, f"the parent of {span.name} was not recorded"
    return parent


async def _finished(
    exporter: InMemorySpanExporter, name: str, timeout: float = 15.0, **attributes: str
) -> list[ReadableSpan]:
    """Every span recorded, once one named ``name`` (with these ``attributes``) has ended (spans are recorded
    as they end)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        finished = list(exporter.get_finished_spans())
        if any(span.name == name and _has(span, attributes) for span in finished):
            return finished
        await asyncio.sleep(0.05)
    raise AssertionError(f"no span {name!r} {attributes} ended within {timeout} s")


def _has(span: ReadableSpan, attributes: dict[str, str]) -> bool:
    return all((span.attributes or {}).get(key) == value for key, value in attributes.items())


async def test_one_message_is_one_trace_from_the_webhook_to_the_graph_api_call(
    traced_pipeline: Pipeline, spans: InMemorySpanExporter
) -> None:
    running_since = time.time_ns()  # what the fixtures did before (creating the database...) is not the pipeline
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

    # The followers polled the store meanwhile (the sender found the reply, the projections read it), yet no
    # query started a trace of its own: every query belongs to a message's trace. (Read before this test's
    # own queries below, which do start traces.)
    orphans = [
        str((span.attributes or {}).get("db.statement", span.name))[:80]
        for span in finished
        if span.parent is None and _is_query(span) and span.start_time and span.start_time >= running_since
    ]
    assert orphans == []

    # The decision's events carry the trace, as the sender read it.
    stream = await traced_pipeline.store.read_stream(await traced_pipeline.customer_stream(CUSTOMER))
    [queued] = [event for event in stream if event.type == "ReplyQueued"]
    assert queued.metadata.trace_id == format(trace_id, "032x")
    assert queued.metadata.span_id == format(consumer.context.span_id, "016x")


async def test_a_timer_continues_the_trace_of_the_conversation_that_set_it(
    pipeline_with_short_drafts: Pipeline, spans: InMemorySpanExporter
) -> None:
    pipeline = pipeline_with_short_drafts
    await pipeline.says(CUSTOMER, "hola, se me rompió la cañería del baño, estoy en ñuñoa")
    # The question about urgency, then, with no answer, the closer's goodbye.
    await pipeline.outbox(CUSTOMER, 2, timeout=30.0)
    finished = await _finished(spans, "reply send", purpose="expired")
    by_id = {span.context.span_id: span for span in finished}

    [goodbye] = [s for s in finished if s.name == "reply send" and _has(s, {"purpose": "expired"})]
    command = _parent_of(goodbye, by_id)
    assert (command.name, command.kind) == ("COMMANDS process", SpanKind.CONSUMER)
    publish = _parent_of(command, by_id)
    assert publish.kind == SpanKind.PRODUCER and publish.name.startswith("conectapro.commands."), publish.name
    assert (publish.attributes or {}).get("timer") == "ExpireConversation"
    # The timer was set by the decision on the customer's message: the goodbye is in the message's trace.
    decision = _parent_of(publish, by_id)
    assert (decision.name, decision.kind) == ("INBOUND process", SpanKind.CONSUMER)
    webhook = _parent_of(_parent_of(decision, by_id), by_id)
    assert (webhook.name, webhook.kind) == ("POST /webhook", SpanKind.SERVER)
    assert {goodbye.context.trace_id, command.context.trace_id, webhook.context.trace_id} == {
        decision.context.trace_id
    }
    # The goodbye's Graph API call too, and the expiry's queries.
    assert any(s.kind == SpanKind.CLIENT and s.name == "POST" for s in _children_of(goodbye, finished))
    assert any(_is_query(s) for s in _children_of(command, finished))
