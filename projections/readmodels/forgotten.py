"""What read models do when a person is forgotten (``PersonForgotten`` on ``privacy-requests``).

Their personal values become :data:`~contracts.personal.SUPPRESSED`, the marker a forgotten person's sealed
fields read as in the event store: so the live rows, blanked when the event is projected, are the rows a
rebuild computes from the suppressed events (and a rebuild also blanks what older, unsealed events of the
person still hold in clear). A value that was never given (None) stays None, as it does in a rebuild.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts.events import Event
from contracts.personal import SUPPRESSED
from contracts.privacy_events import ErasureOutcome, PersonForgotten
from projections.projector import RowsWhere

FORGOTTEN = PersonForgotten.TYPE


def blank(value: Any) -> Any:
    return None if value is None else SUPPRESSED


def _forgotten(event: Event) -> PersonForgotten | None:
    if isinstance(event, PersonForgotten) and event.outcome is ErasureOutcome.FORGOTTEN and event.person_key:
        return event
    return None


def rows_of_person(column: str) -> Callable[[Event], RowsWhere | None]:
    """The selection of a forgotten person's rows by a column holding their person key."""

    def select(event: Event) -> RowsWhere | None:
        forgotten = _forgotten(event)
        return None if forgotten is None else RowsWhere(column, frozenset({forgotten.person_key}))

    return select


def rows_of_streams(column: str) -> Callable[[Event], RowsWhere | None]:
    """The selection of a forgotten person's rows by a column holding the id of one of their streams."""

    def select(event: Event) -> RowsWhere | None:
        forgotten = _forgotten(event)
        return None if forgotten is None or not forgotten.streams else RowsWhere(column, frozenset(forgotten.streams))

    return select
