"""A local stand-in for the WhatsApp Cloud API's send endpoint: a real HTTP server that records messages.

Used when no ``WHATSAPP_ACCESS_TOKEN`` is set (local mode: outbound replies land here and can be read back)
and by the tests as the local Graph API server. It speaks the same protocol as Meta:

- ``POST /{phone_number_id}/messages`` or ``POST /v21.0/{phone_number_id}/messages`` with an optional bearer
  token check; bodies are validated the way Meta does for text, reply buttons and lists, and refused with
  Meta's error JSON (``{"error": {"message", "type", "code", "error_data": {"details"}, "fbtrace_id"}}``);
- accepted messages get a generated wamid and Meta's success body
  (``{"messaging_product": "whatsapp", "contacts": [{"input", "wa_id"}], "messages": [{"id"}]}``).

For people and tests: ``GET /sandbox/messages?to=`` (the outbox), ``DELETE /sandbox/messages`` (empties the
outbox and the request log), ``GET /sandbox/requests?to=`` (every send request with its outcome, refused
ones included), and ``POST /sandbox/failures`` to script the next responses, consumed in order
(``[{"status": 429, "code": 130429}, {"status": 400, "code": 131047, "to": "569..."}]``).

The outbox may also be a JSON-lines file: every accepted message is appended, and it is read back on start.

With a :class:`~devtools.graph_sandbox_statuses.StatusWebhook` it also posts, like Meta, the signed status
webhooks of every accepted message ("sent", "delivered") to the ingress, echoing the send's
``biz_opaque_callback_data``. ``answer_gate`` (for tests) is awaited after a message is accepted and before
the 200 goes back: a test can stop the sender at exactly that point.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import socket
import threading
from collections.abc import Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from devtools.graph_sandbox_checks import ERROR_TITLES, LETTERS, Refusal, invalid_parameter, validate_send_payload
from devtools.graph_sandbox_statuses import StatusPoster, StatusWebhook
from infra.clock import utc_now
from infra.logging import mask_phone

log = structlog.get_logger("sandbox")

GRAPH_VERSION = "v21.0"
_VERSION = re.compile(r"^v\d+\.\d+$")

class ScriptedFailure(BaseModel):
    """One scripted response for a coming send. ``code`` None answers a non-Graph body (like a proxy's)."""

    model_config = ConfigDict(extra="forbid")

    status: int = Field(default=400, ge=400, le=599)
    code: int | None = None
    subcode: int | None = None
    message: str | None = None
    details: str | None = None
    #: Only a send to this recipient consumes it; others pass it by.
    to: str | None = None
    retry_after: float | None = Field(default=None, ge=0)


def wa_id(to: str) -> str:
    """The digits of a number, as Meta reports it back in ``contacts[0].wa_id``."""
    return re.sub(r"\D", "", to)


def new_wamid() -> str:
    return "wamid." + "".join(secrets.choice(LETTERS) for _ in range(40))


@dataclass
class Sandbox:
    """The sandbox's state, shared by the HTTP app and in-process callers (tests, the local runner)."""

    access_token: str | None = None
    outbox_path: Path | None = None
    wamid_factory: Callable[[], str] = new_wamid
    status_webhook: StatusWebhook | None = None
    answer_gate: Callable[[dict[str, Any]], Awaitable[None]] | None = None
    _messages: list[dict[str, Any]] = field(default_factory=list)
    _requests: list[dict[str, Any]] = field(default_factory=list)
    _failures: list[ScriptedFailure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.outbox_path is not None and self.outbox_path.exists():
            self._messages.extend(_read_jsonl(self.outbox_path))

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self._messages if to is None or m["wa_id"] == wa_id(to)]

    def requests(self, to: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self._requests if to is None or r["wa_id"] == wa_id(to)]

    def script(self, failures: list[ScriptedFailure]) -> None:
        with self._lock:
            self._failures.extend(failures)

    def pending_failures(self) -> list[ScriptedFailure]:
        with self._lock:
            return list(self._failures)

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def clear(self) -> None:
        """Empty the outbox (the file too, so a restart does not bring the messages back) and the request log."""
        with self._lock:
            self._messages.clear()
            self._requests.clear()
            if self.outbox_path is not None and self.outbox_path.exists():
                self.outbox_path.write_text("")

    def reset(self) -> None:
        self.clear()
        self.clear_failures()

    def handle_send(
        self, phone_number_id: str, authorization: str | None, raw: bytes
    ) -> tuple[Refusal | None, dict[str, Any] | None]:
        """One ``POST .../messages``: the refusal to answer, or None and the accepted message's record."""
        refusal = self._check_token(authorization)
        payload: Any = None
        if refusal is None:
            try:
                payload = json.loads(raw or b"null")
            except ValueError:
                refusal = invalid_parameter("Invalid parameter: the request body is not valid JSON")
        to = ""
        if isinstance(payload, dict) and isinstance(payload.get("to"), str):
            to = payload["to"]
        with self._lock:
            if refusal is None:
                refusal = self._next_failure(to) or validate_send_payload(payload)
            request: dict[str, Any] = {
                "at": utc_now().isoformat(),
                "phone_number_id": phone_number_id,
                "to": to,
                "wa_id": wa_id(to),
                "status": refusal.status if refusal else 200,
                "code": refusal.code if refusal and not refusal.bare else None,
                "wamid": None,
            }
            self._requests.append(request)
            if refusal is not None:
                log.info("sandbox_send_refused", to=mask_phone(to), status=refusal.status, code=request["code"])
                return refusal, None
            wamid = self.wamid_factory()
            request["wamid"] = wamid
            record = {
                "wamid": wamid,
                "phone_number_id": phone_number_id,
                "to": to,
                "wa_id": wa_id(to),
                "type": payload.get("type", "text"),
                "payload": payload,
                "received_at": request["at"],
            }
            self._messages.append(record)
            if self.outbox_path is not None:
                self.outbox_path.parent.mkdir(parents=True, exist_ok=True)
                with self.outbox_path.open("a", encoding="utf-8") as outbox:
                    outbox.write(json.dumps(record, ensure_ascii=False) + "\n")
        log.info("sandbox_message_recorded", to=mask_phone(to), message_type=record["type"], wamid=wamid)
        return None, record

    def _check_token(self, authorization: str | None) -> Refusal | None:
        if self.access_token is None:
            return None
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and secrets.compare_digest(token.strip(), self.access_token):
            return None
        return Refusal(401, 190, "Invalid OAuth access token - Cannot parse access token",
                       message="Invalid OAuth access token - Cannot parse access token")  # fmt: skip

    def _next_failure(self, to: str) -> Refusal | None:
        for index, scripted in enumerate(self._failures):
            if scripted.to is None or wa_id(scripted.to) == wa_id(to):
                del self._failures[index]
                return _scripted_refusal(scripted)
        return None


def _accepted_body(record: dict[str, Any]) -> dict[str, Any]:
    """Meta's answer to an accepted send."""
    return {
        "messaging_product": "whatsapp",
        "contacts": [{"input": record["to"], "wa_id": record["wa_id"]}],
        "messages": [{"id": record["wamid"]}],
    }


def _scripted_refusal(scripted: ScriptedFailure) -> Refusal:
    if scripted.code is None:
        details = scripted.details or f"sandbox: scripted HTTP {scripted.status}"
        return Refusal(scripted.status, 0, details, retry_after=scripted.retry_after, bare=True)
    details = scripted.details or ERROR_TITLES.get(scripted.code, "Scripted sandbox failure")
    return Refusal(scripted.status, scripted.code, details, message=scripted.message, subcode=scripted.subcode,
                   retry_after=scripted.retry_after)  # fmt: skip


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and "wamid" in record and "wa_id" in record:
                yield record


# --------------------------------------------------------------------------------------------- app


def create_sandbox_app(sandbox: Sandbox) -> FastAPI:
    app = FastAPI(title="ConectaPro WhatsApp sandbox", version=GRAPH_VERSION)
    app.state.sandbox = sandbox
    poster = StatusPoster(sandbox.status_webhook) if sandbox.status_webhook is not None else None
    app.state.status_poster = poster

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/sandbox/messages")
    async def list_messages(to: str | None = None) -> dict[str, Any]:
        return {"messages": sandbox.messages(to)}

    @app.delete("/sandbox/messages")
    async def clear_messages() -> dict[str, bool]:
        await run_in_threadpool(sandbox.clear)
        return {"cleared": True}

    @app.get("/sandbox/requests")
    async def list_requests(to: str | None = None) -> dict[str, Any]:
        return {"requests": sandbox.requests(to)}

    @app.post("/sandbox/failures")
    async def script_failures(failures: list[ScriptedFailure]) -> dict[str, int]:
        sandbox.script(failures)
        return {"queued": len(failures), "pending": len(sandbox.pending_failures())}

    @app.get("/sandbox/failures")
    async def list_failures() -> dict[str, Any]:
        return {"failures": [f.model_dump(exclude_none=True) for f in sandbox.pending_failures()]}

    @app.delete("/sandbox/failures")
    async def clear_failures() -> dict[str, bool]:
        sandbox.clear_failures()
        return {"cleared": True}

    async def send(request: Request, phone_number_id: str, version: str | None = None) -> Response:
        if version is not None and not _VERSION.match(version):
            unknown = Refusal(400, 2500, f"Unknown path components: /{version}/{phone_number_id}/messages")
            return JSONResponse(unknown.body(), status_code=unknown.status)
        raw = await request.body()
        # The file append blocks: keep it off the event loop (the sandbox shares the loop in tests).
        refusal, record = await run_in_threadpool(
            sandbox.handle_send, phone_number_id, request.headers.get("authorization"), raw
        )
        if record is not None:
            if poster is not None:
                poster.message_accepted(record)
            if sandbox.answer_gate is not None:
                await sandbox.answer_gate(record)
            return JSONResponse(_accepted_body(record))
        assert refusal is not None  # handle_send answers one or the other
        headers = {"Retry-After": f"{refusal.retry_after:g}"} if refusal.retry_after is not None else None
        if refusal.bare:
            return PlainTextResponse(refusal.details, refusal.status, headers)
        return JSONResponse(refusal.body(), status_code=refusal.status, headers=headers)

    app.add_api_route("/{version}/{phone_number_id}/messages", send, methods=["POST"])
    app.add_api_route("/{phone_number_id}/messages", send, methods=["POST"])
    return app


# ---------------------------------------------------------------------------------------- running


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its owner (the runtime or the test session)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class SandboxServer:
    """Runs the sandbox on uvicorn inside the current event loop. ``port=0`` picks a free port."""

    def __init__(self, sandbox: Sandbox | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sandbox = sandbox or Sandbox()
        self.host = host
        self.port = port
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._poster: StatusPoster | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        """What ``WHATSAPP_API_BASE_URL`` should be to send here."""
        return f"{self.url}/{GRAPH_VERSION}"

    async def start(self) -> SandboxServer:
        # Binding the socket ourselves makes port 0 race-free and tells us the port before serving.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = int(sock.getsockname()[1])
        app = create_sandbox_app(self.sandbox)
        self._poster = app.state.status_poster
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off",
            timeout_graceful_shutdown=2,
        )  # fmt: skip
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="whatsapp-sandbox")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # startup failed: raise why
                raise RuntimeError("the sandbox server stopped during startup")
            await asyncio.sleep(0.01)
        log.info("sandbox_listening", url=self.url, outbox=str(self.sandbox.outbox_path or ""))
        return self

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = self._task = None
        if self._poster is not None:
            await self._poster.aclose()

    async def __aenter__(self) -> SandboxServer:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

