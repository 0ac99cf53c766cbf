"""Projectors and projections, and the pure fold of a batch of events into rows.

A :class:`Projector` keeps one table: for each event it names the row the event touches (``key_of``) and
computes that row's next value (``evolve``: pure, returns the SAME object when nothing changes). A few events
touch many rows at once (a forgotten person's leads, messages, conversation): for those the projector names
a selection of rows (``selects``: a :class:`RowsWhere`) and ``evolve`` is applied to every row it matches,
the rows written earlier and those of the same batch alike. A
:class:`Projection` is a named group of projectors that share one checkpoint: the unit the runner follows
and ``conectapro projections rebuild NAME`` rebuilds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from contracts.events import Event
from projections.envelope import EventContext, Item
from projections.table import Table

K = TypeVar("K")
R = TypeVar("R", bound=tuple[Any, ...])


@dataclass(frozen=True, slots=True)
class RowsWhere:
    """The rows an event touches when it touches many: every row whose ``column`` holds one of ``values``.

    One definition serves both sides: the SQL that loads the rows (``Table.load_where``) and the in-memory
    match over rows already loaded or changed in the batch (``matches``)."""

    column: str
    values: frozenset[Any]

    def matches(self, row: tuple[Any, ...]) -> bool:
        return getattr(row, self.column) in self.values


#: An event for one projector, with the key of the row it touches (or the rows, for a selection).
Routed = tuple[Any, Event, EventContext]


@dataclass(frozen=True, eq=False)
class Projector(Generic[K, R]):
    table: Table[R]
    #: The event types this projector reads; others are skipped without being decoded.
    event_types: frozenset[str]
    key_of: Callable[[Event, EventContext], K | None]
    evolve: Callable[[R | None, Event, EventContext], R | None]
    #: Event type → the rows it touches, for events that touch many (read too: added to ``event_types``).
    selects: Mapping[str, Callable[[Event], RowsWhere | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "event_types", self.event_types | frozenset(self.selects))

    def route(self, items: Iterable[Item]) -> list[Routed]:
        """The events of ``items`` this projector reads, each with the key of the row it touches, in order."""
        return route_all([self], items)[self]

    def fold_routed(self, rows: Mapping[K, R], routed: Iterable[Routed]) -> dict[K, R]:
        """The rows the routed events change, starting from ``rows`` (absent key = no row yet; not copied).

        For a selection, ``rows`` must hold every stored row it matches (``Table.load_where``)."""
        changed: dict[K, R] = {}
        evolve = self.evolve
        for key, event, ctx in routed:
            if key.__class__ is RowsWhere:
                self._fold_selection(rows, changed, key, event, ctx)
                continue
            before = changed[key] if key in changed else rows.get(key)
            after = evolve(before, event, ctx)
            if after is not None and after is not before:
                changed[key] = after
        return changed

    def _fold_selection(
        self, rows: Mapping[K, R], changed: dict[K, R], where: RowsWhere, event: Event, ctx: EventContext
    ) -> None:
        for key in [*rows, *(key for key in changed if key not in rows)]:
            before = changed[key] if key in changed else rows[key]
            if where.matches(before):
                after = self.evolve(before, event, ctx)
                if after is not None and after is not before:
                    changed[key] = after

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


def route_all(projectors: Sequence[AnyProjector], items: Iterable[Item]) -> dict[AnyProjector, list[Routed]]:
    """For each projector, the events it reads with their keys, in order: ONE pass over the batch, however
    many projectors (a rebuild feeds every event to all of them)."""
    interested: dict[str, list[AnyProjector]] = {}
    for projector in projectors:
        for event_type in projector.event_types:
            interested.setdefault(event_type, []).append(projector)
    routed: dict[AnyProjector, list[Routed]] = {projector: [] for projector in projectors}
    for event, ctx in items:
        for projector in interested.get(event.TYPE, ()):
            select = projector.selects.get(event.TYPE)
            key = projector.key_of(event, ctx) if select is None else select(event)
            if key is not None:
                routed[projector].append((key, event, ctx))
    return routed
