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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import socket
import string
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from conectapro.logging import mask_phone
from conectapro.services import Runtime

log = structlog.get_logger("sandbox")

GRAPH_VERSION = "v21.0"
_VERSION = re.compile(r"^v\d+\.\d+$")
_LETTERS = string.ascii_letters  # letters only: a wamid must never look like a phone number to the log masker

# A few of Meta's titles, so a scripted failure reads like the real thing.
_TITLES = {
    1: "API Unknown", 2: "API Service", 4: "API Too Many Calls", 100: "Invalid parameter",
    190: "Access token has expired", 368: "Temporarily blocked for policies violations",
    80007: "Rate limit issues", 130429: "Rate limit hit", 131000: "Something went wrong",
    131008: "Required parameter is missing", 131009: "Parameter value is not valid",
    131026: "Message undeliverable", 131047: "Re-engagement message", 131048: "Spam rate limit hit",
    131051: "Unsupported message type", 131056: "(Business Account, Consumer Account) pair rate limit hit",
}  # fmt: skip
# Types Meta accepts that the sandbox records without checking their contents.
_SHALLOW_TYPES = {"image", "audio", "video", "document", "sticker", "location", "contacts", "template", "reaction"}
_SHALLOW_INTERACTIVE = {"cta_url", "product", "product_list", "flow", "location_request_message", "address_message"}


# ----------------------------------------------------------------------------------------- refusals


@dataclass(frozen=True)
class Refusal:
    """A Graph API error response."""

    status: int
    code: int
    details: str
    message: str | None = None
    subcode: int | None = None
    type: str = "OAuthException"
    retry_after: float | None = None
    #: Answer ``details`` as plain text instead of a Graph error, like a proxy or load balancer would.
    bare: bool = False

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message or f"(#{self.code}) {_TITLES.get(self.code, 'Error')}",
            "type": self.type,
            "code": self.code,
            "error_data": {"messaging_product": "whatsapp", "details": self.details},
            "fbtrace_id": "A" + "".join(secrets.choice(_LETTERS) for _ in range(22)),
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        return {"error": error}


def _param(message: str) -> Refusal:
    return Refusal(400, 100, message, message=f"(#100) {message}")


def _missing(details: str) -> Refusal:
    return Refusal(400, 131008, details)


def _invalid(details: str) -> Refusal:
    return Refusal(400, 131009, details)


# --------------------------------------------------------------------------------------- validation


def _length(value: Any, low: int, high: int) -> bool:
    return isinstance(value, str) and low <= len(value) <= high


def validate_send_payload(payload: Any) -> Refusal | None:
    """None when Meta would accept the body; otherwise the refusal Meta would answer with."""
    if not isinstance(payload, dict):
        return _param("Invalid parameter: the request body must be a JSON object")
    product = payload.get("messaging_product")
    if product is None:
        return _param("The parameter messaging_product is required.")
    if product != "whatsapp":
        return _param(f'Param messaging_product must be one of {{WHATSAPP}} - got "{product}".')
    if not isinstance(payload.get("to"), str) or not payload["to"].strip():
        return _param("The parameter to is required.")
    if payload.get("recipient_type", "individual") != "individual":
        return _param("Param recipient_type must be one of {INDIVIDUAL}")
    kind = payload.get("type", "text")  # Meta defaults the type to text
    if kind == "text":
        return _validate_text(payload.get("text"))
    if kind == "interactive":
        return _validate_interactive(payload.get("interactive"))
    if kind in _SHALLOW_TYPES:
        return None if isinstance(payload.get(kind), dict) else _missing(f"The parameter {kind} is required.")
    return _param(f"Param type must be one of {{TEXT, INTERACTIVE, {', '.join(sorted(_SHALLOW_TYPES)).upper()}}}")


def _validate_text(text: Any) -> Refusal | None:
    if not isinstance(text, dict) or not isinstance(text.get("body"), str) or not text["body"]:
        return _param("The parameter text['body'] is required.")
    if len(text["body"]) > 4096:
        return _param("Param text['body'] must be at most 4096 characters long.")
    return None


def _validate_interactive(interactive: Any) -> Refusal | None:
    if not isinstance(interactive, dict):
        return _missing("The parameter interactive is required.")
    kind = interactive.get("type")
    if kind in _SHALLOW_INTERACTIVE:
        return None
    if kind not in ("button", "list"):
        return _param("Param interactive['type'] must be one of {BUTTON, LIST, CTA_URL, PRODUCT, PRODUCT_LIST, FLOW}")
    body = interactive.get("body")
    if not isinstance(body, dict) or "text" not in body:
        return _missing("The parameter interactive['body'] is required.")
    if not _length(body["text"], 1, 1024):
        return _invalid("Body text length invalid. Min length: 1, Max length: 1024")
    header = interactive.get("header")
    if header is not None and (
        not isinstance(header, dict) or (header.get("type") == "text" and not _length(header.get("text"), 1, 60))
    ):
        return _invalid("Header text length invalid. Min length: 1, Max length: 60")
    footer = interactive.get("footer")
    if footer is not None and (not isinstance(footer, dict) or not _length(footer.get("text"), 1, 60)):
        return _invalid("Footer text length invalid. Min length: 1, Max length: 60")
    action = interactive.get("action")
    if not isinstance(action, dict):
        return _missing("The parameter interactive['action'] is required.")
    return _validate_buttons(action) if kind == "button" else _validate_list(action)


def _validate_buttons(action: dict[str, Any]) -> Refusal | None:
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return _invalid("Invalid buttons count. Min allowed buttons: 1, Max allowed buttons: 3")
    ids, titles = set(), set()
    for button in buttons:
        reply = button.get("reply") if isinstance(button, dict) else None
        if not isinstance(button, dict) or button.get("type") != "reply" or not isinstance(reply, dict):
            return _invalid("Invalid button type. Allowed button types: reply")
        if not _length(reply.get("id"), 1, 256):
            return _invalid("Button ID length invalid. Min length: 1, Max length: 256")
        if not _length(reply.get("title"), 1, 20):
            return _invalid("Button title length invalid. Min length: 1, Max length: 20")
        if reply["id"] in ids:
            return _invalid(f"Duplicate button id: {reply['id']}")
        if reply["title"] in titles:
            return _invalid(f"Duplicate button title: {reply['title']}")
        ids.add(reply["id"])
        titles.add(reply["title"])
    return None


def _validate_list(action: dict[str, Any]) -> Refusal | None:
    if not _length(action.get("button"), 1, 20):
        return _invalid("Button text length invalid. Min length: 1, Max length: 20")
    sections = action.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
        return _invalid("Invalid sections count. Min allowed sections: 1, Max allowed sections: 10")
    row_ids: set[str] = set()
    for section in sections:
        if not isinstance(section, dict):
            return _invalid("Invalid section")
        title = section.get("title")
        if len(sections) > 1 and title is None:
            return _missing("Section title is required when there is more than one section")
        if title is not None and not _length(title, 1, 24):
            return _invalid("Section title length invalid. Min length: 1, Max length: 24")
        rows = section.get("rows")
        if not isinstance(rows, list) or not rows:
            return _invalid("Invalid rows count. Min allowed rows: 1")
        for row in rows:
            if not isinstance(row, dict) or not _length(row.get("id"), 1, 200):
                return _invalid("Row ID length invalid. Min length: 1, Max length: 200")
            if not _length(row.get("title"), 1, 24):
                return _invalid("Row title length invalid. Min length: 1, Max length: 24")
            if "description" in row and not _length(row["description"], 0, 72):
                return _invalid("Row description length invalid. Max length: 72")
            if row["id"] in row_ids:
                return _invalid(f"Duplicate row id: {row['id']}")
            row_ids.add(row["id"])
    if len(row_ids) > 10:
        return _invalid(f"Total row count exceed max allowed count: 10 (got {len(row_ids)})")
    return None


# ------------------------------------------------------------------------------------------- state


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
    return "wamid." + "".join(secrets.choice(_LETTERS) for _ in range(40))


@dataclass
class Sandbox:
    """The sandbox's state, shared by the HTTP app and in-process callers (tests, the local runner)."""

    access_token: str | None = None
    outbox_path: Path | None = None
    wamid_factory: Callable[[], str] = new_wamid
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

    def handle_send(self, phone_number_id: str, authorization: str | None, raw: bytes) -> tuple[Refusal | None, Any]:
        """One ``POST .../messages``: the refusal to answer, or None and Meta's success body."""
        refusal = self._check_token(authorization)
        payload: Any = None
        if refusal is None:
            try:
                payload = json.loads(raw or b"null")
            except ValueError:
                refusal = _param("Invalid parameter: the request body is not valid JSON")
        to = ""
        if isinstance(payload, dict) and isinstance(payload.get("to"), str):
            to = payload["to"]
        with self._lock:
            if refusal is None:
                refusal = self._next_failure(to) or validate_send_payload(payload)
            request: dict[str, Any] = {
                "at": datetime.now(UTC).isoformat(),
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
        return None, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": wa_id(to)}],
            "messages": [{"id": wamid}],
        }

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


def _scripted_refusal(scripted: ScriptedFailure) -> Refusal:
    if scripted.code is None:
        details = scripted.details or f"sandbox: scripted HTTP {scripted.status}"
        return Refusal(scripted.status, 0, details, retry_after=scripted.retry_after, bare=True)
    details = scripted.details or _TITLES.get(scripted.code, "Scripted sandbox failure")
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
        refusal, body = await run_in_threadpool(
            sandbox.handle_send, phone_number_id, request.headers.get("authorization"), raw
        )
        if refusal is None:
            return JSONResponse(body)
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
        config = uvicorn.Config(
            create_sandbox_app(self.sandbox), log_config=None, access_log=False, lifespan="off",
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

    async def __aenter__(self) -> SandboxServer:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.stop()


async def serve(runtime: Runtime) -> None:
    """``conectapro run sandbox``: the sandbox on ``SANDBOX_PORT`` until the runtime stops.

    The outbox is kept in ``<data dir>/sandbox/outbox.jsonl``. The bearer token is checked only when
    ``WHATSAPP_ACCESS_TOKEN`` is set (then the sandbox mimics Meta's 401 for a wrong one)."""
    settings = runtime.settings
    token = settings.whatsapp_access_token.get_secret_value() if settings.whatsapp_access_token else None
    outbox = settings.conectapro_data_dir.resolve() / "sandbox" / "outbox.jsonl"
    sandbox = Sandbox(access_token=token, outbox_path=outbox)
    async with SandboxServer(sandbox, host=settings.ingress_host, port=settings.sandbox_port):
        await runtime.stopping.wait()
