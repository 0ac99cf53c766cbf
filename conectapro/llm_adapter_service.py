"""`conectapro run llm_adapter`: the optional LLM adapter, configured from the validated settings.

The adapter package reads no settings (it imports ``contracts`` only); this bootstrap is where they meet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from infra import telemetry
from infra.metrics_server import include
from infra.settings import Settings, nats_servers
from llm_adapter import metrics as adapter_metrics
from llm_adapter.config import AdapterConfig
from llm_adapter.llm_client import no_span
from llm_adapter.service import AdapterService, open_adapter


def adapter_config(settings: Settings) -> AdapterConfig:
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    return AdapterConfig(
        model=settings.openai_model,
        base_url=settings.openai_base_url,
        api_key=key,
        timeout_seconds=settings.llm_timeout_seconds,
        daily_token_budget=settings.llm_daily_token_budget,
        customer_calls_per_hour=settings.llm_customer_calls_per_hour,
        metrics_port=settings.llm_metrics_port,
        ledger_replicas=settings.jetstream_replicas,
    )


@asynccontextmanager
async def build(settings: Settings) -> AsyncIterator[AdapterService]:
    # Its answers, fallbacks by reason, tokens and latency, on the service's METRICS_PORT like any other's.
    include("llm_adapter", adapter_metrics.REGISTRY)
    call_span = telemetry.client_span if telemetry.enabled() else no_span
    async with open_adapter(
        adapter_config(settings), nats_servers(settings.required_nats_url), nats_telemetry(), call_span
    ) as service:
        yield service


def nats_telemetry() -> list[Any]:
    """FastStream's OpenTelemetry middleware when tracing is on: it continues the requester's trace from the
    request's headers, and each call to the provider (``telemetry.client_span``) nests under it."""
    if not telemetry.enabled():
        return []
    from faststream.nats.opentelemetry import NatsTelemetryMiddleware

    return [NatsTelemetryMiddleware(tracer_provider=telemetry.tracer_provider())]
