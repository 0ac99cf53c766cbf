"""Projectors and projections, and the pure fold of a batch of events into rows.

A :class:`Projector` keeps one table: for each event it names the row the event touches (``key_of``) and
computes that row's next value (``evolve``: pure, returns the SAME object when nothing changes). A
:class:`Projection` is a named group of projectors that share one checkpoint: the unit the runner follows
and ``conectapro projections rebuild NAME`` rebuilds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from contracts.events import Event
from projections.envelope import EventContext, Item
from projections.table import Table

K = TypeVar("K")
R = TypeVar("R", bound=tuple[Any, ...])


#: An event for one projector, with the key of the row it touches.
Routed = tuple[K, Event, EventContext]


@dataclass(frozen=True, eq=False)
class Projector(Generic[K, R]):
    table: Table[R]
    #: The event types this projector reads; others are skipped without being decoded.
    event_types: frozenset[str]
    key_of: Callable[[Event, EventContext], K | None]
    evolve: Callable[[R | None, Event, EventContext], R | None]

    def route(self, items: Iterable[Item]) -> list[Routed[K]]:
        """The events of ``items`` this projector reads, each with the key of the row it touches, in order."""
        return route_all([self], items)[self]

    def fold_routed(self, rows: Mapping[K, R], routed: Iterable[Routed[K]]) -> dict[K, R]:
        """The rows the routed events change, starting from ``rows`` (absent key = no row yet; not copied)."""
        changed: dict[K, R] = {}
        evolve = self.evolve
        for key, event, ctx in routed:
            before = changed[key] if key in changed else rows.get(key)
            after = evolve(before, event, ctx)
            if after is not None and after is not before:
                changed[key] = after
        return changed

    def fold(self, rows: Mapping[K, R], items: Iterable[Item]) -> dict[K, R]:
        """The rows ``items`` change, starting from ``rows``."""
        return self.fold_routed(rows, self.route(items))


@dataclass(frozen=True, eq=False)
class Projection:
    name: str
    projectors: tuple[Projector[Any, Any], ...]

    @property
    def consumer(self) -> str:
        """Its name in the ``checkpoints`` table."""
        return f"projection-{self.name}"

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset().union(*(p.event_types for p in self.projectors))

    @property
    def tables(self) -> tuple[Table[Any], ...]:
        return tuple(p.table for p in self.projectors)



AnyProjector = Projector[Any, Any]


def route_all(projectors: Sequence[AnyProjector], items: Iterable[Item]) -> dict[AnyProjector, list[Routed[Any]]]:
    """For each projector, the events it reads with their keys, in order: ONE pass over the batch, however
    many projectors (a rebuild feeds every event to all of them)."""
    interested: dict[str, list[AnyProjector]] = {}
    for projector in projectors:
        for event_type in projector.event_types:
            interested.setdefault(event_type, []).append(projector)
    routed: dict[AnyProjector, list[Routed[Any]]] = {projector: [] for projector in projectors}
    for event, ctx in items:
        for projector in interested.get(event.TYPE, ()):
            key = projector.key_of(event, ctx)
            if key is not None:
                routed[projector].append((key, event, ctx))
    return routed
