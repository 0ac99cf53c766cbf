"""The adapter as a service: build the client and the handlers, serve them on NATS until told to stop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from faststream.nats import NatsBroker
from prometheus_client import start_http_server

from llm_adapter import metrics
from llm_adapter.app import build_broker, start_serving
from llm_adapter.breaker import CircuitBreaker
from llm_adapter.config import AdapterConfig
from llm_adapter.cost_control import CostControl
from llm_adapter.gateway import Gateway
from llm_adapter.llm_client import CallSpan, LlmClient, no_span

log = structlog.get_logger("llm_adapter")


def build_gateway(config: AdapterConfig, call_span: CallSpan = no_span) -> Gateway:
    breaker = CircuitBreaker(config.breaker_failures, config.breaker_open_seconds)
    client = LlmClient.connect(
        config.base_url, config.api_key, config.model, config.timeout_seconds, breaker, call_span=call_span
    )
    cost = CostControl(
        config.daily_token_budget,
        config.customer_calls_per_hour,
        wall_clock=lambda: datetime.now(UTC),
        monotonic=time.monotonic,
    )
    return Gateway(client, cost)


@dataclass
class AdapterService:
    broker: NatsBroker
    config: AdapterConfig

    async def run(self, stopping: asyncio.Event) -> None:
        if self.config.metrics_port:
            start_http_server(self.config.metrics_port, registry=metrics.REGISTRY)
        await start_serving(self.broker)
        log.info("llm_adapter_running", model=self.config.model, timeout_s=self.config.timeout_seconds)
        await stopping.wait()


@asynccontextmanager
async def open_adapter(
    config: AdapterConfig,
    nats_url: str | list[str],
    middlewares: Sequence[Any] = (),
    call_span: CallSpan = no_span,
) -> AsyncIterator[AdapterService]:
    """``middlewares`` and ``call_span``: the composition root's tracing of requests and provider calls."""
    gateway = build_gateway(config, call_span)
    broker = build_broker(gateway, nats_url, concurrency=config.concurrency, middlewares=middlewares)
    try:
        yield AdapterService(broker, config)
    finally:
        await broker.stop()
        await gateway.client.close()
