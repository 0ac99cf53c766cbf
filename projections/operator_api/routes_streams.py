"""``/v1/streams/{stream_id}/events``: any stream, as stored (for audits)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from projections.operator_api import queries
from projections.operator_api.deps import State
from projections.operator_api.errors import responses
from projections.operator_api.schemas import EventPage

router = APIRouter(tags=["streams"])


@router.get("/streams/{stream_id}/events", response_model=EventPage, responses=responses(401, 404, 422, 503))
async def stream_events(
    state: State,
    stream_id: Annotated[
        str, Path(pattern=r"^[A-Za-z0-9_.:@-]{1,200}$", description="e.g. `customer-<id>`, `provider-<id>`")
    ],
    from_version: Annotated[int, Query(ge=1, le=2**31 - 1, description="First stream version to return")] = 1,
    limit: Annotated[int, Query(ge=1, le=1000, description="Events per page (1-1000)")] = 100,
) -> EventPage:
    """The stream's events in version order, with their envelopes (data and metadata as stored)."""
    events = await state.store.read_stream(stream_id, from_version, limit + 1)
    if not events and await state.store.stream_version(stream_id) == 0:
        raise HTTPException(404, detail=f"no stream {stream_id}")
    page = events[:limit]
    next_from = page[-1].stream_version + 1 if len(events) > limit else None
    return EventPage(stream_id=stream_id, events=[queries.event_out(e) for e in page], next_from_version=next_from)
