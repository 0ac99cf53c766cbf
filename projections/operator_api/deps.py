"""What every route gets injected: the API's state (store, token, clock, metrics) and the bearer check."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry

from eventstore import PostgresEventStore
from orchestrator.provider_directory import ProviderDirectory
from projections.lag import LagMetrics
from projections.operator_api.dead_letters import DeadLetterMetrics, DeadLetters


@dataclass
class ApiState:
    token: str
    clock: Callable[[], datetime]
    registry: CollectorRegistry
    lag: LagMetrics
    #: The store in use: the one handed to ``create_app``, or the one ``connect`` opened on first use.
    current: PostgresEventStore | None = None
    #: Opens a store on first use when none was given (see ``projections.operator_api.app.create_app``).
    connect: Callable[[], Awaitable[PostgresEventStore]] | None = None
    _connecting: asyncio.Lock = field(default_factory=asyncio.Lock)
    _directory: ProviderDirectory | None = None
    #: The dead-letter stream, when the API was given a way to reach NATS.
    dead_letters: DeadLetters | None = None
    dead_letter_metrics: DeadLetterMetrics | None = None
    #: JetStream, when the API was given a way to reach NATS (erasure deletes a person's messages there).
    jetstream: Callable[[], Awaitable[JetStreamContext]] | None = None
    #: Closes what the API opened itself besides the store (its own NATS connection).
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def store(self) -> PostgresEventStore:
        assert self.current is not None, "get_state connects before any route runs"
        return self.current

    @property
    def pool(self) -> asyncpg.Pool[Any]:
        return self.store.pool

    @property
    def directory(self) -> ProviderDirectory:
        """The technicians as operator commands decide on them: kept across requests, so each command reads
        only the events since the previous one (``projections.operator_api.technician_actions``)."""
        if self._directory is None:
            self._directory = ProviderDirectory(self.store)
        return self._directory

    async def ready(self) -> None:
        if self.current is not None:
            return
        async with self._connecting:
            if self.current is None and self.connect is not None:
                self.current = await self.connect()

    async def disconnect(self) -> None:
        """Close a store this state opened itself (a store handed in belongs to whoever gave it)."""
        for close in self.closers:
            await close()
        if self.connect is None:
            return
        store, self.current = self.current, None
        self._directory = None  # it followed that store
        if store is not None:
            await store.close()


def _state(request: Request) -> ApiState:
    state: ApiState = request.app.state.operator
    return state


async def get_state(request: Request) -> ApiState:
    state = _state(request)
    await state.ready()
    return state


State = Annotated[ApiState, Depends(get_state)]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="OperatorToken",
    description="OPERATOR_API_TOKEN (generated and printed by `conectapro run operator_api` in local mode).",
)


async def require_token(
    state: Annotated[ApiState, Depends(_state)],  # no database needed to refuse a request
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    given = credentials.credentials.encode() if credentials is not None else b""
    # Constant time: how much of a guess was right must not show in the response time.
    if credentials is None or not secrets.compare_digest(given, state.token.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
