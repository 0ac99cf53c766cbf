"""A local OpenAI-compatible chat completions server, so tests and benchmarks use the real SDK over HTTP.

Each test scripts what the server answers: a completion (content, refusal, finish_reason), an HTTP error
with headers (429 + Retry-After, 500), or a delay. With nothing scripted, ``default`` answers. Every request
body is kept, so a test can check what left the system (masking, the strict schema, no SDK retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import uvicorn


@dataclass
class Scripted:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    #: Raw text sent as the body instead of JSON (e.g. a broken proxy page).
    raw: str | None = None


def completion(
    content: str | None = None,
    *,
    refusal: str | None = None,
    finish_reason: str = "stop",
    model: str = "stub-model",
    prompt_tokens: int = 150,
    completion_tokens: int = 40,
    delay: float = 0.0,
) -> Scripted:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    body = {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 1_800_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    return Scripted(body=body, delay=delay)


def intent_json(confidence: float = 0.95, **fields: Any) -> str:
    """A JSON answer shaped like the Intent schema (any field may be overridden, even with bad values)."""
    answer: dict[str, Any] = {
        "intent": "create_lead",
        "service": None,
        "comuna": None,
        "problem_type": None,
        "urgency": None,
        "address": None,
        "consent": None,
        "confidence": confidence,
    }
    answer.update(fields)
    return json.dumps(answer, ensure_ascii=False)


def http_error(status: int, headers: dict[str, str] | None = None, delay: float = 0.0) -> Scripted:
    kind = "rate_limit_exceeded" if status == 429 else "server_error"
    body = {"error": {"message": f"stub {status}", "type": kind, "param": None, "code": kind}}
    return Scripted(status=status, body=body, headers=headers or {}, delay=delay)


class OpenAIStub:
    """The server's behaviour: a script of answers, then ``default``; and what it received."""

    def __init__(self) -> None:
        self.script: deque[Scripted] = deque()
        self.default: Callable[[dict[str, Any]], Scripted] = lambda _: http_error(500)
        self.requests: list[dict[str, Any]] = []

    def reset(self) -> None:
        self.script.clear()
        self.default = lambda _: http_error(500)
        self.requests.clear()

    def then(self, *answers: Scripted) -> None:
        self.script.extend(answers)

    def customer_text(self, index: int = -1) -> str:
        """The user message of a received request (what left the system)."""
        return str(self.requests[index]["messages"][-1]["content"])

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["path"].rstrip("/").endswith("/chat/completions") and scope["method"] == "POST":
            request = json.loads(body)
            self.requests.append(request)
            answer = self.script.popleft() if self.script else self.default(request)
        else:
            answer = http_error(404)
        if answer.delay:
            try:
                await asyncio.sleep(answer.delay)
            except asyncio.CancelledError:  # the server shutting down under a slow answer: nothing to send
                return
        payload = (answer.raw if answer.raw is not None else json.dumps(answer.body)).encode()
        extra = [(name.encode(), value.encode()) for name, value in answer.headers.items()]
        headers = [(b"content-type", b"application/json"), *extra]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class OpenAIStubServer:
    """Serves an :class:`OpenAIStub` on uvicorn inside the current event loop, on a free port."""

    def __init__(self, stub: OpenAIStub | None = None) -> None:
        self.stub = stub or OpenAIStub()
        self.port = 0
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        """What ``OPENAI_BASE_URL`` should be to call this server."""
        return f"http://127.0.0.1:{self.port}/v1"

    async def __aenter__(self) -> OpenAIStubServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.stub, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="openai-stub")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the OpenAI stub stopped during startup")
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            self._server.force_exit = True
            await self._task


@contextlib.contextmanager
def stub_in_thread(stub: OpenAIStub | None = None) -> Generator[OpenAIStubServer, None, None]:
    """The server on a loop of its own in a thread: for code under test that runs its own event loop
    (a command line), which cannot share the test's."""
    import threading

    loop = asyncio.new_event_loop()
    server = OpenAIStubServer(stub)
    thread = threading.Thread(target=loop.run_forever, name="openai-stub", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.__aenter__(), loop).result(timeout=30)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.__aexit__(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


async def _serve_slow(delay: float, ready_file: str) -> None:
    stub = OpenAIStub()
    stub.default = lambda _: completion(intent_json(0.9), delay=delay)
    async with OpenAIStubServer(stub) as server:
        with open(ready_file, "w") as ready:
            ready.write(server.base_url)
        await asyncio.Event().wait()


if __name__ == "__main__":
    # `python -m tests.openai_stub DELAY READY_FILE`: a server of its own process answering every call after
    # DELAY seconds (benchmarks: the provider's CPU is not the adapter's). Its URL is written to READY_FILE.
    import sys

    asyncio.run(_serve_slow(float(sys.argv[1]), sys.argv[2]))
