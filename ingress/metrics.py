"""Prometheus metrics of the ingress, on a registry of its own (one per app, so tests stay isolated)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass
class IngressMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter("ingress_requests", "Webhook requests by outcome", ["outcome"], registry=self.registry)
        self.updates = Counter(
            "ingress_updates", "Messages, statuses and errors received, by kind", ["kind"], registry=self.registry
        )
        self.duplicates = Counter(
            "ingress_duplicates", "Updates already published before, not published again", registry=self.registry
        )
        self.dead_letters = Counter(
            "ingress_dead_letters",
            "Authentic payloads, or unreadable parts of them, parked in the dead-letter stream",
            registry=self.registry,
        )
        self.publish_seconds = Histogram(
            "ingress_publish_seconds",
            "Time from the first publish to the last JetStream acknowledgement of one request",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        # Labelled children, looked up once per label value: `labels()` on every request is measurable.
        self._requests_by_outcome: dict[str, Counter] = {}
        self._updates_by_kind: dict[str, Counter] = {}

    def requests_with(self, outcome: str) -> Counter:
        child = self._requests_by_outcome.get(outcome)
        if child is None:
            child = self._requests_by_outcome[outcome] = self.requests.labels(outcome=outcome)
        return child

    def updates_of(self, kind: str) -> Counter:
        child = self._updates_by_kind.get(kind)
        if child is None:
            child = self._updates_by_kind[kind] = self.updates.labels(kind=kind)
        return child
