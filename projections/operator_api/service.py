"""`conectapro run operator_api`: the operator API on uvicorn (OPERATOR_API_HOST:OPERATOR_API_PORT, 8081)."""

from __future__ import annotations

import sys

import structlog

from eventstore import PostgresEventStore
from infra.http_server import serve_until_stopped
from infra.runtime import Runtime
from infra.settings import Settings, local_secret
from projections.operator_api.app import ApiConfig, create_app
from projections.service import migrate

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


async def serve(runtime: Runtime) -> None:
    settings = runtime.settings
    token = operator_token(settings)
    await migrate(runtime.database_url)
    store = await PostgresEventStore.connect(runtime.database_url, min_size=1, max_size=8)
    app = create_app(ApiConfig(token=token), store=store)
    try:
        await serve_until_stopped(
            app,
            host=settings.operator_api_host,
            port=settings.operator_api_port,
            stopping=runtime.stopping,
            name="operator_api",
            lifespan="on",
        )
    finally:
        await store.close()
