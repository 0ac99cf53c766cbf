"""The HTTP services' uvicorn server (``infra.http_server``): quiet when idle, prompt to stop, Date kept fresh."""

from __future__ import annotations

import asyncio
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import uvicorn

from infra.embedded import free_port
from infra.http_server import QuietServer, serve_until_stopped
from tests.integration.test_ingress_http_protocol import until_listening


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


class _CountingTicks(QuietServer):
    ticks = 0

    async def on_tick(self, counter: int) -> bool:
        self.ticks += 1
        return await super().on_tick(counter)


async def test_an_idle_server_wakes_once_a_second_not_ten_times() -> None:
    port = free_port()
    server = _CountingTicks(uvicorn.Config(_app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    serving = asyncio.create_task(server.serve())
    await until_listening(port)
    before = server.ticks

    await asyncio.sleep(2.0)

    assert server.ticks - before <= 3  # uvicorn's own loop ticks about 20 times in 2 s
    server.should_exit = True
    await asyncio.wait_for(serving, 5)


async def test_a_stopping_server_stops_at_once_and_its_date_header_is_current() -> None:
    port = free_port()
    stopping = asyncio.Event()
    serving = asyncio.create_task(
        serve_until_stopped(_app, host="127.0.0.1", port=port, stopping=stopping, name="test", lifespan="off")
    )
    await until_listening(port)
    await asyncio.sleep(1.5)  # past at least one refresh of the Date header
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        answer = await client.get("/")
    assert abs(parsedate_to_datetime(answer.headers["date"]).timestamp() - time.time()) < 2.5

    stopping.set()
    started = time.monotonic()
    await asyncio.wait_for(serving, 5)
    assert time.monotonic() - started < 0.5  # not the rest of a second-long wait
