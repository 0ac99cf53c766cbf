"""OpenTelemetry tracing, set up in one place: one trace per inbound message across every hop.

Off unless the standard variables ask for it (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``; ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none`` turn it
off again). Off, no SDK tracer provider exists, no library is instrumented and the helpers below return
before touching OpenTelemetry: a disabled service pays one boolean test per hop. On, the SDK reads the
rest of the ``OTEL_*`` variables itself (sampler, exporter headers, timeouts).

NATS has no instrumentation: the context travels in message headers (W3C ``traceparent``), injected by
:func:`inject_context` and read back by :func:`consuming`. The event store is the other hop: a decision's
events record the trace and span ids of the span that decided them (:func:`current_ids`), and the sender
continues that trace from them (:func:`continuing`); so does a timer the closer publishes for a decision.

Work that belongs to no message (a follower's polling, the closer's tick) runs inside :func:`background`:
the instrumentations record nothing there, so no query starts a trace of its own; the spans of a message
(:func:`consuming`, :func:`continuing`) record again inside it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

TRACER_NAME = "conectapro"

_provider: Any = None  # the SDK's TracerProvider while tracing is on
_instrumentors: list[Any] = []


def enabled() -> bool:
    return _provider is not None


def requested(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the standard variables ask for traces to be exported."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return bool(environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def setup_tracing(service: str, *, processor: Any = None, environ: Mapping[str, str] = os.environ) -> bool:
    """Turn tracing on for this process when the environment asks for it (or a span ``processor`` is given,
    as tests do). ``service`` names the process unless ``OTEL_SERVICE_NAME`` does. Returns whether it is on.
    """
    global _provider
    if _provider is not None:
        return True
    if processor is None and not requested(environ):
        return False
    # Imported here: a process without tracing never loads the SDK or the instrumentations.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME") or f"conectapro-{service}"})
    provider = TracerProvider(resource=resource)  # the sampler comes from OTEL_TRACES_SAMPLER(_ARG)
    provider.add_span_processor(processor or BatchSpanProcessor(OTLPSpanExporter()))
    if processor is None:
        # A real export: the process's global provider, for anything else that traces. Tests keep theirs
        # private, so that switching tracing off after them leaves nothing behind.
        trace.set_tracer_provider(provider)
    _provider = provider
    _instrument_libraries(provider)
    return True


def shutdown_tracing() -> None:
    """Flush what is pending, undo the instrumentations and turn tracing off (process exit, end of a test)."""
    global _provider
    provider, _provider = _provider, None
    for instrumentor in _instrumentors:
        instrumentor.uninstrument()
    _instrumentors.clear()
    if provider is not None:
        provider.shutdown()


def _instrument_libraries(provider: Any) -> None:
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    instrumentors: list[Any] = [
        FastAPIInstrumentor(),
        AsyncPGInstrumentor(),  # type: ignore[no-untyped-call]
        HTTPXClientInstrumentor(),
    ]
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=provider)
        _instrumentors.append(instrumentor)


def tracer_provider() -> Any:
    """The SDK provider while tracing is on (for libraries that take one), else None."""
    return _provider


def tracer() -> trace.Tracer:
    if _provider is None:
        return trace.NoOpTracer()
    tracer: trace.Tracer = _provider.get_tracer(TRACER_NAME)
    return tracer


def traced_asgi(app: Any, name: str) -> Any:
    """``app`` behind OpenTelemetry's ASGI middleware (a server span per request) when tracing is on.

    For ASGI apps FastAPI's instrumentation does not reach (the webhook's bare hot path)."""
    if _provider is None:
        return app
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware(
        app, tracer_provider=_provider, exclude_spans=["receive", "send"], default_span_details=lambda _: (name, {})
    )


def inject_context(headers: dict[str, str]) -> dict[str, str]:
    """Add the current trace context (``traceparent``) to a NATS message's headers."""
    if _provider is not None:
        propagate.inject(headers)
    return headers


@contextlib.contextmanager
def publishing(subject: str) -> Iterator[None]:
    """A producer span around one publish; :func:`inject_context` inside it carries this span."""
    if _provider is None:
        yield
        return
    with tracer().start_as_current_span(
        f"{subject} publish", kind=SpanKind.PRODUCER, attributes={"messaging.system": "nats"}
    ):
        yield


@contextlib.contextmanager
def background() -> Iterator[None]:
    """Work that belongs to no message: the instrumentations (asyncpg, httpx) start no span inside.

    OpenTelemetry's suppression context; :func:`consuming` and :func:`continuing` lift it for a message."""
    if _provider is None:
        yield
        return
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    with suppress_instrumentation():
        yield


@contextlib.contextmanager
def _message_span(parent: Context, name: str, kind: SpanKind, attributes: Mapping[str, str | int]) -> Iterator[None]:
    """A span of one message, child of what ``parent`` carries. ``parent`` is built on an empty context, not
    the current one: a message handled by a :func:`background` loop is traced, queries included."""
    token = otel_context.attach(parent)
    try:
        with tracer().start_as_current_span(name, kind=kind, attributes=attributes):
            yield
    finally:
        otel_context.detach(token)


@contextlib.contextmanager
def consuming(headers: Mapping[str, str] | None, name: str, **attributes: str | int) -> Iterator[None]:
    """A consumer span, child of the context a message's headers carry (a new trace when they carry none)."""
    if _provider is None:
        yield
        return
    parent = propagate.extract(headers or {}, context=Context())
    with _message_span(parent, name, SpanKind.CONSUMER, {"messaging.system": "nats", **attributes}):
        yield


@contextlib.contextmanager
def client_span(name: str, **attributes: str | int) -> Iterator[None]:
    """A client span around a call to another system (the LLM provider), child of the current span."""
    if _provider is None:
        yield
        return
    with tracer().start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes):
        yield


def current_ids() -> tuple[str | None, str | None]:
    """The current sampled span's trace and span ids (hex), to record in a decision's events' metadata."""
    if _provider is None:
        return None, None
    context = trace.get_current_span().get_span_context()
    if not (context.is_valid and context.trace_flags.sampled):
        return None, None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


@contextlib.contextmanager
def continuing(
    trace_id: str | None,
    span_id: str | None,
    name: str,
    *,
    kind: SpanKind = SpanKind.CONSUMER,
    **attributes: str | int,
) -> Iterator[None]:
    """A span continuing the trace recorded in an event's metadata, as a child of the span that recorded it
    (a new trace when nothing was recorded)."""
    if _provider is None:
        yield
        return
    parent = Context()
    if trace_id and span_id:
        sampled = TraceFlags(TraceFlags.SAMPLED)  # only sampled spans are recorded (current_ids)
        recorded = SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=sampled)
        parent = trace.set_span_in_context(NonRecordingSpan(recorded), parent)
    with _message_span(parent, name, kind, attributes):
        yield


def log_trace_id(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the current trace id on every log line, so logs and traces join."""
    if _provider is not None:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            event_dict["trace_id"] = format(context.trace_id, "032x")
    return event_dict
