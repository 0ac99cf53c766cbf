"""Serving an ASGI app on uvicorn until the runtime stops: shared by the HTTP services."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any, Literal

import structlog
import uvicorn

log = structlog.get_logger(__name__)


class QuietServer(uvicorn.Server):
    """uvicorn's server without its tenth-of-a-second tick: one turn a second, and at once on exit.

    uvicorn's main loop wakes ten times a second to see whether it should exit and, every tenth time,
    to refresh its ``Date`` header: an idle service woke the process for nothing, each time at the cost
    of a cold start of the loop. Here ``should_exit`` wakes the loop itself, and the header is refreshed
    once a second, as often as before.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        self._exit_requested = asyncio.Event()
        super().__init__(config)

    @property
    def should_exit(self) -> bool:
        return self._exit_requested.is_set()

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        if value:
            self._exit_requested.set()
        else:
            self._exit_requested.clear()

    async def main_loop(self) -> None:
        # on_tick(0): the turn that refreshes the Date header, checks should_exit and the request limit.
        while not await self.on_tick(0):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit_requested.wait(), timeout=1.0)


async def serve_until_stopped(
    app: Any,
    *,
    host: str,
    port: int,
    stopping: asyncio.Event,
    name: str,
    lifespan: Literal["on", "off"] = "off",
    proxy_headers: bool = True,
    reuse_port: bool = False,
    http: type[asyncio.Protocol] | Literal["auto"] = "auto",
) -> None:
    """Run ``app`` until ``stopping`` is set (or the server fails), then shut it down gracefully.

    uvicorn's own access log is off: each app writes one structured line per request itself.
    ``proxy_headers=False`` skips uvicorn's X-Forwarded-* middleware, for an app that reads neither the
    client's address nor the scheme. ``reuse_port=True`` binds with SO_REUSEPORT: several processes
    serving the same app listen on one port, and the kernel spreads the connections among them.
    ``http`` is uvicorn's HTTP protocol (a class of one's own, or its choice).
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan=lifespan,
        proxy_headers=proxy_headers,
        http=http,
    )
    server = QuietServer(config)
    sockets = [shared_port_socket(host, port)] if reuse_port else None
    server_task = asyncio.create_task(server.serve(sockets), name=f"{name}-http")
    log.info(f"{name}_listening", host=host, port=port)
    stop_task = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait([server_task, stop_task], return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        await server_task
        stop_task.cancel()


def shared_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket other processes may bind too (SO_REUSEPORT): each gets its share of connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(False)
    return sock
