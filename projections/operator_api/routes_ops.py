"""``/healthz`` and ``/metrics``: for load balancers and Prometheus, so they need no token (they reveal no
personal data: a status word and counts)."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from projections.catalog import PROJECTIONS
from projections.lag import measure_all
from projections.operator_api.dead_letters import DeadLettersUnavailable
from projections.operator_api.deps import State
from projections.operator_api.errors import responses
from projections.operator_api.schemas import HealthOut

log = structlog.get_logger("operator_api")

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=HealthOut, responses=responses(503))
async def healthz(state: State) -> HealthOut:
    """200 when the API can reach its database."""
    await state.pool.fetchval("SELECT 1")  # a database that cannot be reached is answered 503 by the app
    return HealthOut(status="ok")


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={
        200: {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}},
        **responses(503),
    },
)
async def metrics(state: State) -> Response:
    """Prometheus metrics, among them ``projection_lag_events`` and ``projection_lag_seconds`` per projection
    (measured from the database at scrape time, whichever process runs the projections) and
    ``dead_letters_parked`` by source (counted in the dead-letter stream at scrape time)."""
    state.lag.update(await measure_all(state.store, PROJECTIONS.values()))
    if state.dead_letters is not None and state.dead_letter_metrics is not None:
        try:
            state.dead_letter_metrics.update(await state.dead_letters.counts())
        except DeadLettersUnavailable as error:
            # The other figures are still worth scraping; the gauge keeps its last value.
            log.warning("dead_letter_count_failed", error=str(error))
    return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)
