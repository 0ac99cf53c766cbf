"""Serving an ASGI app on uvicorn until the runtime stops: shared by the HTTP services."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import structlog
import uvicorn

log = structlog.get_logger(__name__)


async def serve_until_stopped(
    app: Any,
    *,
    host: str,
    port: int,
    stopping: asyncio.Event,
    name: str,
    lifespan: Literal["on", "off"] = "off",
    proxy_headers: bool = True,
) -> None:
    """Run ``app`` until ``stopping`` is set (or the server fails), then shut it down gracefully.

    uvicorn's own access log is off: each app writes one structured line per request itself.
    ``proxy_headers=False`` skips uvicorn's X-Forwarded-* middleware, for an app that reads neither the
    client's address nor the scheme.
    """
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan=lifespan, proxy_headers=proxy_headers
    )
    server = uvicorn.Server(config)
    server_task = asyncio.create_task(server.serve(), name=f"{name}-http")
    log.info(f"{name}_listening", host=host, port=port)
    stop_task = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait([server_task, stop_task], return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        await server_task
        stop_task.cancel()
