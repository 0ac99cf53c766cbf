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
from contracts.provider_events import ProviderForgotten
from orchestrator.domain.ids import customer_key_of_lead, customer_stream_id, provider_stream_id
from projections.projector import RowsWhere

FORGOTTEN = PersonForgotten.TYPE
#: A technician forgotten (on their own stream): their name and phone blanked where read models show them.
TECHNICIAN_FORGOTTEN = ProviderForgotten.TYPE


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


def rows_of_technician(column: str) -> Callable[[Event], RowsWhere | None]:
    """The selection of a forgotten technician's rows by a column holding their id."""

    def select(event: Event) -> RowsWhere | None:
        return RowsWhere(column, frozenset({event.provider_id})) if isinstance(event, ProviderForgotten) else None

    return select


def customers_of_technician(column: str) -> Callable[[Event], RowsWhere | None]:
    """The selection, by customer key, of the customers whose leads a forgotten technician was offered."""

    def select(event: Event) -> RowsWhere | None:
        if not isinstance(event, ProviderForgotten) or not event.leads:
            return None
        return RowsWhere(column, frozenset(customer_key_of_lead(lead) for lead in event.leads))

    return select


def streams_of_technician(column: str) -> Callable[[Event], RowsWhere | None]:
    """The selection, by stream id, of a forgotten technician's own stream and their leads' streams."""

    def select(event: Event) -> RowsWhere | None:
        if not isinstance(event, ProviderForgotten):
            return None
        customers = {customer_stream_id(customer_key_of_lead(lead)) for lead in event.leads}
        return RowsWhere(column, frozenset({provider_stream_id(event.provider_id), *customers}))

    return select
