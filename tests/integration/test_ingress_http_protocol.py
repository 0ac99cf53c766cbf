"""The ingress's HTTP protocol: each response in one send, keep-alive and uvicorn's own answers intact."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from infra.embedded import free_port
from infra.http_server import serve_until_stopped
from ingress.http_protocol import OneSendPerResponse, _CollectingTransport


class _RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


async def test_what_one_step_writes_is_sent_at_once_after_it_and_closing_sends_first() -> None:
    recording = _RecordingTransport()
    collecting = _CollectingTransport(recording)

    collecting.write(b"HTTP/1.1 200 OK\r\n\r\n")
    collecting.write(b'{"published":1}')
    assert recording.writes == []  # nothing before the step ends
    await asyncio.sleep(0)
    collecting.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    collecting.close()

    assert recording.writes == [b'HTTP/1.1 200 OK\r\n\r\n{"published":1}', b"HTTP/1.1 400 Bad Request\r\n\r\n"]
    assert recording.closed


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    message = await receive()  # the tests' bodies are a few bytes: one message
    answer = b"echo:" + message.get("body", b"")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(answer))]})
    await send({"type": "http.response.body", "body": answer})


async def until_listening(port: int) -> None:
    for _ in range(200):
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
async def port() -> AsyncIterator[int]:
    port = free_port()
    stopping = asyncio.Event()
    server = asyncio.create_task(
        serve_until_stopped(_app, host="127.0.0.1", port=port, stopping=stopping, name="test", http=OneSendPerResponse)
    )
    await until_listening(port)
    yield port
    stopping.set()
    await server


async def test_requests_on_one_kept_alive_connection_each_get_their_whole_answer(port: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        answers = [await client.post("/webhook", content=f"n{n}".encode()) for n in range(5)]

    assert [(a.status_code, a.content) for a in answers] == [(200, f"echo:n{n}".encode()) for n in range(5)]


async def test_a_malformed_request_gets_uvicorns_400_before_the_connection_closes(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    await writer.drain()

    answer = await asyncio.wait_for(reader.read(), timeout=5.0)  # read() returns at the close
    writer.close()

    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
