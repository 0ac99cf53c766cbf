"""What the adapter needs to run, given by whoever starts it (the package reads no settings itself)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AdapterConfig:
    model: str
    base_url: str | None = None
    api_key: str | None = None
    #: The whole budget of one answer, retries included; a request may ask for less.
    timeout_seconds: float = 3.0
    daily_token_budget: int = 2_000_000
    customer_calls_per_hour: int = 20
    breaker_failures: int = 5
    breaker_open_seconds: float = 30.0
    concurrency: int = 256
    #: Replicas of the JetStream bucket holding the cost counts every adapter replica shares.
    ledger_replicas: int = 1
    #: Port of the Prometheus /metrics endpoint; 0 serves none.
    metrics_port: int = 0
