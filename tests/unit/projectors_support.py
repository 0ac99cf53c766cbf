"""Given / then support for the projector tests: events with the envelope a projection sees, and folds.

Conversations come from the leads-flow ``Scenario`` (the real pure ``decide``), so the projectors are fed
exactly what the orchestrator records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from contracts.events import Event
from orchestrator.domain.ids import customer_stream_id
from projections.envelope import EventContext, Item
from projections.projector import Projector
from tests.unit.leads_flow_support import CUSTOMER

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
CUSTOMER_STREAM = customer_stream_id(CUSTOMER)


class Log:
    """Events as they would be stored: stream versions per stream, one global order, a clock."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start
        self._positions = count(1)
        self._versions: dict[str, int] = {}

    def record(self, stream_id: str, events: Iterable[Event], *, at: datetime | None = None) -> list[Item]:
        when = at or self.now
        items: list[Item] = []
        for event in events:
            version = self._versions.get(stream_id, 0) + 1
            self._versions[stream_id] = version
            items.append((event, EventContext(stream_id, version, next(self._positions), when)))
        self.now = when + timedelta(minutes=1)
        return items


def fold(
    projector: Projector[Any, Any], items: Iterable[Item], rows: Mapping[Any, Any] | None = None
) -> dict[Any, Any]:
    """Every row after ``items``, starting from ``rows``."""
    current = dict(rows or {})
    current.update(projector.fold(current, list(items)))
    return current


def customer_items(events: Iterable[Event], log: Log | None = None) -> list[Item]:
    return (log or Log()).record(CUSTOMER_STREAM, events)
