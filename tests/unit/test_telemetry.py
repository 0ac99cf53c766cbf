"""Tracing is off unless the standard OTEL variables ask for it; on, the recorded ids continue a trace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from infra import telemetry


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_traces_are_exported_only_when_the_standard_variables_ask(environ: dict[str, str], expected: bool) -> None:
    assert telemetry.requested(environ) is expected


def test_with_nothing_configured_tracing_stays_off_and_touches_nothing() -> None:
    assert telemetry.setup_tracing("ingress", environ={}) is False
    assert not telemetry.enabled()
    headers = {"Nats-Msg-Id": "x"}
    with telemetry.publishing("conectapro.inbound"):
        assert telemetry.inject_context(headers) == {"Nats-Msg-Id": "x"}
    with telemetry.consuming({"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}, "INBOUND process"):
        assert telemetry.current_ids() == (None, None)
    assert telemetry.log_trace_id(None, "info", {"event": "x"}) == {"event": "x"}


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    telemetry.setup_tracing("unit", processor=SimpleSpanProcessor(exporter))
    try:
        yield exporter
    finally:
        telemetry.shutdown_tracing()


def test_a_span_rebuilt_from_recorded_ids_is_the_child_of_the_span_that_recorded_them(
    spans: InMemorySpanExporter,
) -> None:
    headers: dict[str, str] = {}
    with telemetry.publishing("conectapro.inbound"):
        telemetry.inject_context(headers)
    assert "traceparent" in headers
    with telemetry.consuming(headers, "INBOUND process"):
        trace_id, span_id = telemetry.current_ids()
        line = telemetry.log_trace_id(None, "info", {"event": "decided"})
    assert line["trace_id"] == trace_id
    with telemetry.continuing(trace_id, span_id, "reply send"):
        pass

    publish, consumer, send = spans.get_finished_spans()
    assert consumer.parent is not None and consumer.parent.span_id == publish.context.span_id
    assert send.parent is not None and send.parent.span_id == consumer.context.span_id
    assert {publish.context.trace_id, consumer.context.trace_id, send.context.trace_id} == {int(str(trace_id), 16)}


def test_background_work_is_not_instrumented_but_a_message_handled_inside_it_is(
    spans: InMemorySpanExporter,
) -> None:
    with telemetry.background():
        assert not is_instrumentation_enabled()  # a follower's polling query starts no trace
        with telemetry.consuming({}, "COMMANDS process"):
            assert is_instrumentation_enabled()  # the message's queries are its children
        with telemetry.continuing(None, None, "reply send"):
            assert is_instrumentation_enabled()
        assert not is_instrumentation_enabled()
    assert is_instrumentation_enabled()
    assert [span.name for span in spans.get_finished_spans()] == ["COMMANDS process", "reply send"]


def test_with_tracing_off_background_changes_nothing() -> None:
    with telemetry.background():
        assert is_instrumentation_enabled()
