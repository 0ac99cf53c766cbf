"""The adapter as a service: build the client and the handlers, serve them on NATS until told to stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nats
import structlog
from faststream.nats import NatsBroker
from prometheus_client import start_http_server

from llm_adapter import metrics
from llm_adapter.app import build_broker, start_serving
from llm_adapter.breaker import CircuitBreaker
from llm_adapter.config import AdapterConfig
from llm_adapter.cost_control import CostControl, CostLedger, ProcessLedger
from llm_adapter.gateway import Gateway
from llm_adapter.llm_client import CallSpan, LlmClient, no_span
from llm_adapter.shared_ledger import KeyValueLedger

log = structlog.get_logger("llm_adapter")


def build_gateway(config: AdapterConfig, call_span: CallSpan = no_span, ledger: CostLedger | None = None) -> Gateway:
    """``ledger``: where the cost counts live (default: this process's memory, for a lone caller)."""
    breaker = CircuitBreaker(config.breaker_failures, config.breaker_open_seconds)
    client = LlmClient.connect(
        config.base_url, config.api_key, config.model, config.timeout_seconds, breaker, call_span=call_span
    )
    cost = CostControl(
        config.daily_token_budget,
        config.customer_calls_per_hour,
        ledger or ProcessLedger(),
        wall_clock=lambda: datetime.now(UTC),
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
    """``middlewares`` and ``call_span``: the composition root's tracing of requests and provider calls.
    The cost counts are shared with every other replica through JetStream (``shared_ledger``)."""
    async with AsyncExitStack() as stack:
        ledger_nc = await nats.connect(nats_url, name="llm_adapter-costs", max_reconnect_attempts=-1)
        stack.push_async_callback(ledger_nc.close)
        ledger = await KeyValueLedger.open(ledger_nc.jetstream(), replicas=config.ledger_replicas)
        gateway = build_gateway(config, call_span, ledger)
        stack.push_async_callback(gateway.client.close)
        broker = build_broker(gateway, nats_url, concurrency=config.concurrency, middlewares=middlewares)
        stack.push_async_callback(broker.stop)
        yield AdapterService(broker, config)
