"""How far behind the event store each projection is: events not yet projected, and for how long.

Measured from the database (the projection's checkpoint against the events after it), so any process can
report it — the operator API does, on ``/metrics`` — whichever process runs the projections.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Gauge

from eventstore import EventStore
from projections.projector import Projection

#: Counting stops here: past this many, "very far behind" is all an alert needs to know.
MAX_COUNTED = 1_000_000

@dataclass(frozen=True, slots=True)
class Lag:
    projection: str
    events: int
    seconds: float
    checkpoint_position: int


async def measure(store: EventStore, projection: Projection) -> Lag:
    checkpoint = await store.load_checkpoint(projection.consumer)
    behind = await store.behind(checkpoint, MAX_COUNTED)
    return Lag(projection.name, behind.events, behind.seconds, checkpoint.global_position)


async def measure_all(store: EventStore, projections: Iterable[Projection]) -> list[Lag]:
    """Every projection's lag: one query for the checkpoints, one per distinct checkpoint (the projections
    of one runner usually share theirs)."""
    chosen = list(projections)
    checkpoints = await store.load_checkpoints([projection.consumer for projection in chosen])
    behind = {}
    for checkpoint in sorted(set(checkpoints.values())):
        behind[checkpoint] = await store.behind(checkpoint, MAX_COUNTED)
    lags = []
    for projection in chosen:
        at = checkpoints[projection.consumer]
        lags.append(Lag(projection.name, behind[at].events, behind[at].seconds, at.global_position))
    return lags


class LagMetrics:
    """Prometheus gauges of the projections' lag, refreshed from the database before each scrape."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Gauge(
            "projection_lag_events", "Events in the store not yet applied by the projection", ["projection"],
            registry=registry,
        )  # fmt: skip
        self.seconds = Gauge(
            "projection_lag_seconds", "How long the oldest event not yet applied has been waiting", ["projection"],
            registry=registry,
        )  # fmt: skip
        self.position = Gauge(
            "projection_checkpoint_position", "Global position of the last event the projection applied",
            ["projection"], registry=registry,
        )  # fmt: skip

    def update(self, lags: Iterable[Lag]) -> None:
        for lag in lags:
            self.events.labels(lag.projection).set(lag.events)
            self.seconds.labels(lag.projection).set(lag.seconds)
            self.position.labels(lag.projection).set(lag.checkpoint_position)
