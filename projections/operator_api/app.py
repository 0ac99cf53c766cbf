"""The operator API: leads, conversations and their timelines, raw streams, technicians, stats.

``create_app(config, store=...)`` builds it around an event store the caller owns (``api_service`` does
that); without one, the app opens its own pool from ``config.database_url`` in its lifespan, which is what
an in-process test client (and schemathesis) runs it with. Everything under ``/v1`` needs the bearer token.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime

from fastapi import APIRouter, Depends, FastAPI
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry

from eventstore import PostgresEventStore
from infra.clock import utc_now
from projections.lag import LagMetrics
from projections.operator_api import (
    routes_conversations,
    routes_dead_letters,
    routes_handovers,
    routes_leads,
    routes_ops,
    routes_privacy,
    routes_providers,
    routes_stats,
    routes_streams,
)
from projections.operator_api.console.install import install_console
from projections.operator_api.dead_letters import DeadLetterMetrics, DeadLetters, LazyJetStream
from projections.operator_api.deps import ApiState, require_token
from projections.operator_api.document import Document
from projections.operator_api.errors import install_error_handlers, reject_unknown_query_parameters


@dataclass(frozen=True)
class ApiConfig:
    token: str
    #: Used only when no store is handed to ``create_app``; a callable is asked at the first request.
    database_url: str | Callable[[], str] | None = None
    clock: Callable[[], datetime] = field(default=utc_now)
    #: Console session cookies only over HTTPS (everywhere but local mode).
    secure_cookies: bool = True
    #: Where the dead-letter stream is read when no JetStream context is handed to ``create_app``.
    nats_url: str | Callable[[], str] | None = None


def create_app(
    config: ApiConfig, *, store: PostgresEventStore | None = None, jetstream: JetStreamContext | None = None
) -> FastAPI:
    if len(config.token) < 16:
        raise ValueError("the operator API token must be at least 16 characters")
    if store is None and config.database_url is None:
        raise ValueError("create_app needs a store or a database_url")
    registry = CollectorRegistry()
    state = ApiState(config.token, config.clock, registry, LagMetrics(registry), current=store)
    if store is None:
        url = config.database_url

        async def connect() -> PostgresEventStore:
            # Opened lazily, in the event loop that serves requests (a test client may run the app in a loop
            # of its own), and closed when the app shuts down.
            dsn = url() if callable(url) else url
            assert dsn is not None
            return await PostgresEventStore.connect(dsn, min_size=1, max_size=8)

        state.connect = connect
    _read_dead_letters(state, config, jetstream)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await state.disconnect()

    app = FastAPI(
        title="ConectaPro operator API",
        version="1",
        description=(
            "Leads, conversations and their timelines, event streams, technicians and stats, for the people "
            "who run ConectaPro. Read models may trail the event store by a moment (see `/v1/stats` and the "
            "`projection_lag_*` metrics); timelines and streams are read from the store itself."
        ),
        lifespan=lifespan,
    )
    app.state.operator = state
    app.state.document = Document(app)
    install_error_handlers(app, app.state.document)
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_token), Depends(reject_unknown_query_parameters)])
    routes = (routes_leads, routes_conversations, routes_handovers, routes_streams, routes_providers, routes_stats,
              routes_dead_letters, routes_privacy)  # fmt: skip
    for module in routes:
        v1.include_router(module.router)
    app.include_router(v1)
    app.include_router(routes_ops.router)
    install_console(app, api_token=config.token, secure_cookies=config.secure_cookies)
    return app


def _read_dead_letters(state: ApiState, config: ApiConfig, jetstream: JetStreamContext | None) -> None:
    """The dead-letter stream through ``jetstream`` (its owner closes it), else a connection of its own."""
    if jetstream is not None:
        given = jetstream

        async def reach() -> JetStreamContext:
            return given

        state.dead_letters, state.jetstream = DeadLetters(reach), reach
    elif config.nats_url is not None:
        lazy = LazyJetStream(config.nats_url)
        state.dead_letters, state.jetstream = DeadLetters(lazy), lazy
        state.closers.append(lazy.close)
    state.dead_letter_metrics = DeadLetterMetrics(state.registry)
