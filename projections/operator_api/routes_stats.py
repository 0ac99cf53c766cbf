"""``/v1/stats``: totals by status, the daily counters and how far behind each projection is."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from projections.operator_api import queries
from projections.operator_api.deps import State
from projections.operator_api.errors import responses
from projections.operator_api.schemas import StatsOut
from projections.readmodels.counters import CHILE

router = APIRouter(tags=["stats"])


@router.get("/stats", response_model=StatsOut, responses=responses(401, 422, 503))
async def get_stats(
    state: State,
    days: Annotated[int, Query(ge=1, le=366, description="Daily counters for this many days up to today")] = 14,
) -> StatsOut:
    """Leads by status, conversations by state, technicians' load, replies and deliveries by status, daily
    counters (Chilean days) and the projections' lag."""
    today = state.clock().astimezone(CHILE).date()
    return await queries.stats(state.store, today=today, days=days)
