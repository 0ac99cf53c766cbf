"""`conectapro run operator_api`: the operator API on uvicorn (OPERATOR_API_HOST:OPERATOR_API_PORT, 8081),
the service's bootstrap."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import structlog
from fastapi import FastAPI
from nats.aio.client import Client as NATS

from eventstore import PostgresEventStore
from infra.clock import utc_now
from infra.http_server import serve_until_stopped
from infra.runtime import nats_connection
from infra.settings import Settings, local_secret
from privacy.setup import service_store
from projections.operator_api.app import ApiConfig, create_app

log = structlog.get_logger("operator_api")


def operator_token(settings: Settings) -> str:
    """OPERATOR_API_TOKEN; in local mode, one generated once in the data folder and printed (never logged)."""
    if settings.operator_api_token is not None:
        return settings.operator_api_token.get_secret_value()
    # Production never gets here: Settings refuses to start without a real token.
    data_dir = settings.conectapro_data_dir.resolve()
    token = local_secret(data_dir, "operator_api_token")
    print(
        f"operator_api: generated a local OPERATOR_API_TOKEN in {data_dir / 'secrets'}:\n"
        f"  curl -H 'Authorization: Bearer {token}' "
        f"http://{settings.operator_api_host}:{settings.operator_api_port}/v1/stats",
        file=sys.stderr,
        flush=True,
    )
    return token


@dataclass
class OperatorApi:
    app: FastAPI
    host: str
    port: int

    async def run(self, stopping: asyncio.Event) -> None:
        await serve_until_stopped(
            self.app, host=self.host, port=self.port, stopping=stopping, name="operator_api", lifespan="on"
        )


@asynccontextmanager
async def build(
    settings: Settings,
    *,
    store: PostgresEventStore | None = None,
    nats: NATS | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> AsyncIterator[OperatorApi]:
    token = operator_token(settings)
    async with AsyncExitStack() as stack:
        # NATS for the dead-letter stream and for waking followers about the operators' appends.
        nc = await nats_connection(stack, settings, nats, name="operator_api", drain=False)
        store = await service_store(stack, settings, store, nats=nc, min_size=1, max_size=8)
        config = ApiConfig(token=token, clock=clock, secure_cookies=settings.is_production)
        app = create_app(config, store=store, jetstream=nc.jetstream())
        yield OperatorApi(app, settings.operator_api_host, settings.operator_api_port)
