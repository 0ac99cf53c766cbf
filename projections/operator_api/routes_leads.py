"""``/v1/leads``: the leads read model, filtered and paged, and one lead with its history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from contracts.intent import Service
from contracts.lead_events import LeadStatus
from orchestrator.domain.ids import customer_key_of_lead, customer_stream_id
from projections.operator_api import queries
from projections.operator_api.cursor import InvalidCursor, decode_lead_cursor
from projections.operator_api.deps import State
from projections.operator_api.errors import invalid, responses
from projections.operator_api.params import ComunaQuery, Cursor, Instant, Limit, canonical_comuna
from projections.operator_api.schemas import LeadDetail, LeadPage

router = APIRouter(tags=["leads"])

LEAD_ID_PATTERN = r"^[A-Za-z0-9_-]{1,128}\.[1-9][0-9]{0,8}$"


@router.get("/leads", response_model=LeadPage, responses=responses(401, 422, 503))
async def list_leads(
    state: State,
    status: LeadStatus | None = None,
    service: Service | None = None,
    comuna: ComunaQuery = None,
    customer: Annotated[
        str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,128}$", description="Customer id (the key of its stream)")
    ] = None,
    phone: Annotated[
        str | None, Query(pattern=r"^[1-9][0-9]{7,14}$", description="The customer's WhatsApp number (digits)")
    ] = None,
    created_from: Annotated[Instant | None, Query(description="Created at or after (RFC 3339)")] = None,
    created_to: Annotated[Instant | None, Query(description="Created before (RFC 3339)")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> LeadPage:
    """Leads, newest first."""
    if created_from is not None and created_to is not None and created_from >= created_to:
        raise invalid("query", "created_to", "must be after created_from")
    try:
        after = decode_lead_cursor(cursor) if cursor is not None else None
    except InvalidCursor as error:
        raise invalid("query", "cursor", str(error)) from error
    filters = queries.LeadFilters(
        status, service, canonical_comuna(comuna), customer, phone, created_from, created_to
    )
    return await queries.list_leads(state.pool, filters, after, limit)


@router.get("/leads/{lead_id}", response_model=LeadDetail, responses=responses(401, 404, 422, 503))
async def get_lead(
    state: State,
    lead_id: Annotated[str, Path(pattern=LEAD_ID_PATTERN, description="`<customer id>.<n>`")],
) -> LeadDetail:
    """One lead, with its events from its customer's stream (its history), in order."""
    lead = await queries.get_lead(state.pool, lead_id)
    if lead is None:
        raise HTTPException(404, detail=f"no lead {lead_id}")
    stream = await state.store.read_stream(customer_stream_id(customer_key_of_lead(lead_id)))
    history = [queries.event_out(e) for e in stream if e.data.get("lead_id") == lead_id]
    return LeadDetail(**lead.model_dump(), history=history)
