"""Handed-over conversations as operators see them: the queue, and where one stands (who took it, where the
flow resumes, until when WhatsApp lets a person write to the customer).

The queue comes from the conversations read model (state ``handed_over``); where each stands is folded from
its stream by the orchestrator's own model, so it is never behind what an action will be decided on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict

from contracts.lead_events import ConversationState
from eventstore import EventStore
from orchestrator import leads_flow
from orchestrator.domain.handover import window_closes_at
from orchestrator.domain.ids import customer_stream_id
from orchestrator.domain.model import CustomerState

#: More than a person can work through at once: the queue shows the oldest this many.
QUEUE_LIMIT = 200


class HandoverOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    customer_id: str
    profile_name: str | None
    phone: str | None
    state: ConversationState
    #: Whether a person has the conversation now (the bot is silent).
    handed_over: bool
    #: The operator who took it (None: waiting in the queue, or not handed over).
    taken_by: str | None
    #: Where the flow resumes when handed back.
    resume_at: ConversationState | None
    last_customer_message_at: datetime | None
    #: WhatsApp's 24-hour customer service window: a person may write until then.
    window_closes_at: datetime | None
    #: Whether a message written now would be inside that window.
    window_open: bool


def handover_of(customer_id: str, state: CustomerState, now: datetime) -> HandoverOut:
    closes = window_closes_at(state)
    return HandoverOut(
        customer_id=customer_id,
        profile_name=state.profile_name,
        phone=state.phone,
        state=state.conversation,
        handed_over=state.handed_over,
        taken_by=state.taken_by,
        resume_at=state.resume_at,
        last_customer_message_at=state.last_customer_message_at,
        window_closes_at=closes,
        window_open=closes is not None and now < closes,
    )


async def conversation_state(store: EventStore, customer_id: str) -> CustomerState | None:
    """The conversation folded from its stream (None: no such conversation)."""
    recorded = await store.read_stream(customer_stream_id(customer_id))
    if not recorded:
        return None
    return leads_flow.fold(event.to_event() for event in recorded)


async def handover(store: EventStore, customer_id: str, now: datetime) -> HandoverOut | None:
    state = await conversation_state(store, customer_id)
    return handover_of(customer_id, state, now) if state is not None else None


_QUEUE = (
    "SELECT customer_key FROM read_models.conversations WHERE state = $1 ORDER BY updated_at, customer_key LIMIT $2"
)


async def handed_over_count(pool: asyncpg.Pool[Any]) -> int:
    """How many conversations a person has now, or should (as the read model knows them)."""
    async with pool.acquire() as conn:
        found = await conn.fetchval(
            "SELECT count(*) FROM read_models.conversations WHERE state = $1", ConversationState.HANDED_OVER.value
        )
    return int(found or 0)


async def queue(pool: asyncpg.Pool[Any], store: EventStore, now: datetime) -> list[HandoverOut]:
    """The handed-over conversations, waiting ones first, then by how long they have waited."""
    async with pool.acquire() as conn:
        keys = [
            row["customer_key"] for row in await conn.fetch(_QUEUE, ConversationState.HANDED_OVER.value, QUEUE_LIMIT)
        ]
    found = [await handover(store, key, now) for key in keys]
    # The read model may trail the stream by a moment: only those still handed over.
    still = [h for h in found if h is not None and h.handed_over]
    return sorted(still, key=lambda h: h.taken_by is not None)
