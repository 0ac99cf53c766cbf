"""``/v1/conversations``: a customer's conversation now, and everything that happened in it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from contracts.events import RecordedEvent
from contracts.outbound import ReplySendAttempted, sender_stream_id
from orchestrator.domain.ids import customer_stream_id
from orchestrator.identity import deliveries_stream_id
from privacy.setup import privacy_of
from projections.operator_api import queries
from projections.operator_api.deps import State
from projections.operator_api.errors import responses
from projections.operator_api.schemas import ConversationOut, TimelineOut
from projections.operator_api.timeline import build_timeline

router = APIRouter(tags=["conversations"])

CustomerId = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_-]{1,128}$", description="Customer id: the key of `customer-<id>`")
]


@router.get("/conversations/{customer_id}", response_model=ConversationOut, responses=responses(401, 404, 422, 503))
async def get_conversation(state: State, customer_id: CustomerId) -> ConversationOut:
    """The conversation's state, what it is waiting for, the captured fields and the current lead."""
    conversation = await queries.get_conversation(state.pool, customer_id)
    if conversation is None:
        raise HTTPException(404, detail=f"no conversation with customer {customer_id}")
    return conversation


@router.get(
    "/conversations/{customer_id}/timeline", response_model=TimelineOut, responses=responses(401, 404, 422, 503)
)
async def get_timeline(
    state: State,
    customer_id: CustomerId,
    after: Annotated[int, Query(ge=0, le=2**62, description="The `next_after` of the previous page")] = 0,
    limit: Annotated[int, Query(ge=1, le=2000, description="Entries per page (1-2000)")] = 500,
) -> TimelineOut:
    """Every message in and out, what understood it (rules, llm, interactive), every decision and every
    delivery status, in the order they were recorded. Read from the event streams, so it is never behind."""
    stream_id = customer_stream_id(customer_id)
    events = await state.store.read_stream(stream_id)
    if not events:
        raise HTTPException(404, detail=f"no conversation with customer {customer_id}")
    # What the sender recorded: on its own stream (stores written before it had one: in `events` already).
    # Its attempts are left out: each is followed by the sent or failed entry, or by how it was settled.
    sender = await state.store.read_stream(sender_stream_id(stream_id))
    events += [e for e in sender if e.type != ReplySendAttempted.TYPE]
    events += await _delivery_statuses(state, customer_id, events)
    entries = [e for e in build_timeline(events) if e.position > after]
    page = entries[:limit]
    next_after = page[-1].position if len(entries) > limit else None
    return TimelineOut(customer_id=customer_id, entries=page, next_after=next_after)


async def _delivery_statuses(state: State, customer_id: str, events: list[RecordedEvent]) -> list[RecordedEvent]:
    wamids = [str(e.data["wamid"]) for e in events if e.type == "ReplySent" and "wamid" in e.data]
    technicians = {
        str(e.data["to"]) for e in events if e.type == "ReplyQueued" and e.data.get("recipient") == "technician"
    }
    # A customer's key is also the key of their deliveries stream (both are their person key).
    own = await state.store.read_stream(deliveries_stream_id(customer_id))
    privacy = privacy_of(state.store)
    if not wamids or not technicians or privacy is None:
        return own
    # The technicians' deliveries streams hold every message they ever got: only this conversation's wamids.
    keys = [await privacy.people.find(phone) for phone in sorted(technicians)]
    streams = [deliveries_stream_id(key) for key in keys if key is not None]
    return own + await queries.delivery_statuses(state.store, streams, wamids)
