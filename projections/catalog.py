"""Every projection, by name: the unit of checkpoint, lag and ``conectapro projections rebuild NAME``."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from projections.projector import Projection
from projections.readmodels.conversations import CONVERSATIONS_PROJECTOR
from projections.readmodels.counters import DAILY_COUNTERS_PROJECTOR
from projections.readmodels.leads import LEADS_PROJECTOR
from projections.readmodels.operators import OPERATORS_PROJECTOR
from projections.readmodels.outbound import DELIVERIES_PROJECTOR, OUTBOUND_PROJECTOR
from projections.readmodels.technicians import TECHNICIANS_PROJECTOR

PROJECTIONS: Mapping[str, Projection] = MappingProxyType(
    {
        p.name: p
        for p in (
            Projection("leads", (LEADS_PROJECTOR,)),
            Projection("conversations", (CONVERSATIONS_PROJECTOR,)),
            Projection("technicians", (TECHNICIANS_PROJECTOR,)),
            # One projection for both tables: a rebuild must never leave messages and statuses from
            # different points of the log.
            Projection("outbound", (OUTBOUND_PROJECTOR, DELIVERIES_PROJECTOR)),
            Projection("daily_counters", (DAILY_COUNTERS_PROJECTOR,)),
            Projection("operators", (OPERATORS_PROJECTOR,)),
        )
    }
)


class UnknownProjection(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no projection {name!r}; known: {', '.join(PROJECTIONS)}")


def chosen(names: list[str] | None = None) -> list[Projection]:
    """The projections named (all of them for None or an empty list), in catalog order."""
    if not names:
        return list(PROJECTIONS.values())
    unknown = [name for name in names if name not in PROJECTIONS]
    if unknown:
        raise UnknownProjection(unknown[0])
    return [p for name, p in PROJECTIONS.items() if name in names]
