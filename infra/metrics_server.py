"""Every service process's Prometheus ``/metrics`` and ``/healthz``, on ``METRICS_PORT`` + the service's offset.

One scheme for every service: ``METRICS_PORT`` (default 9100; 0 serves none) is the base and each service
adds its place in the service table (ingress +0, orchestrator +1, sender +2, ...), so a host running them all
has one known port per service and `conectapro run` prints them. Served from the service's own event loop by
a few lines of asyncio: ``/healthz`` answering means the loop is alive, and a port already taken is a warning
that leaves the service running, never a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

log = structlog.get_logger("metrics")

#: Registries of their own that a service also serves on its metrics port (by name: a service built again
#: replaces its own).
_INCLUDED: dict[str, CollectorRegistry] = {}


def include(name: str, registry: CollectorRegistry) -> None:
    """Serve ``registry`` too on this process's metrics port, beside the default registry."""
    _INCLUDED[name] = registry


def exposition(registry: CollectorRegistry) -> bytes:
    """``registry`` in Prometheus's text format, followed by every included registry."""
    return b"".join(generate_latest(r) for r in dict.fromkeys((registry, *_INCLUDED.values())))


_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def metrics_port(base: int, services: list[str], service: str) -> int | None:
    """The port of ``service``'s metrics: ``base`` + its place among ``services`` (None: ``base`` is 0)."""
    if base == 0 or service not in services:
        return None
    return base + services.index(service)


def _response(content_type: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    head += "Connection: close\r\n\r\n"
    return head.encode() + body


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, registry: CollectorRegistry) -> None:
    try:
        request_line = await asyncio.wait_for(reader.readline(), timeout=5)
        with contextlib.suppress(TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)  # headers: nothing to read in them
        parts = request_line.decode("latin-1").split()
        path = parts[1].split("?")[0] if len(parts) >= 2 else ""
        if path == "/metrics":
            writer.write(_response(CONTENT_TYPE_LATEST, exposition(registry)))
        elif path == "/healthz":
            writer.write(_response("application/json", b'{"status":"ok"}'))
        else:
            writer.write(_NOT_FOUND)
        await writer.drain()
    except (TimeoutError, OSError, asyncio.IncompleteReadError, UnicodeDecodeError):
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def serving_metrics(
    host: str, port: int | None, *, service: str, registry: CollectorRegistry = REGISTRY
) -> AsyncIterator[int | None]:
    """Serve ``/metrics`` and ``/healthz`` on ``port`` for the block; yields the port bound (None: none)."""
    if port is None:
        yield None
        return
    try:
        server = await asyncio.start_server(lambda r, w: _answer(r, w, registry), host, port)
    except OSError as error:
        log.warning("metrics_port_unavailable", service=service, port=port, error=repr(error))
        yield None
        return
    bound = int(server.sockets[0].getsockname()[1])
    log.info("metrics_listening", service=service, host=host, port=bound)
    try:
        yield bound
    finally:
        server.close()
        await server.wait_closed()
