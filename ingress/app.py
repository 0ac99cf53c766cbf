"""The webhook HTTP surface: Meta's verification, signed update delivery, health and metrics.

``POST /webhook`` — the one hot path, thousands of requests per second — is answered by a bare ASGI
layer in front of FastAPI: read the raw body (the signature covers the exact bytes), hand it to
:class:`~ingress.webhook.WebhookReceiver`, write the answer. FastAPI serves the rest (verification,
health, readiness, metrics), where its validation and documentation are worth their cost.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Annotated

import orjson
import structlog
from fastapi import FastAPI, Query, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Receive, Scope, Send

from ingress.metrics import IngressMetrics
from ingress.publisher import InboundPublisher
from ingress.signature import SIGNATURE_HEADER
from ingress.webhook import WebhookAnswer, WebhookReceiver, refusal

log = structlog.get_logger("ingress")

#: Meta sends at most 3 MB; a little headroom, and nothing that could exhaust memory.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024

_SIGNATURE = SIGNATURE_HEADER.encode()
_JSON_HEADERS = [(b"content-type", b"application/json")]


@dataclass(frozen=True)
class IngressConfig:
    app_secret: str
    verify_token: str
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    """The connection closed before the whole body arrived: there is nobody to answer, nothing to publish."""


def create_app(
    config: IngressConfig, publisher: InboundPublisher, metrics: IngressMetrics | None = None
) -> WebhookDelivery:
    metrics = metrics or IngressMetrics()
    receiver = WebhookReceiver(config.app_secret, publisher, metrics)
    return WebhookDelivery(receiver, metrics, config.max_body_bytes, _other_routes(config, publisher, metrics))


class WebhookDelivery:
    """ASGI app: ``POST /webhook`` straight to the receiver, every other request to ``rest``."""

    def __init__(self, receiver: WebhookReceiver, metrics: IngressMetrics, max_body_bytes: int, rest: ASGIApp):
        self._receiver = receiver
        self._metrics = metrics
        self._max_body_bytes = max_body_bytes
        self.rest = rest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/webhook":
            await self._deliver(scope, receive, send)
        else:
            await self.rest(scope, receive, send)

    async def _deliver(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        declared_length, signature = _headers_of(scope)
        try:
            if declared_length is not None and declared_length > self._max_body_bytes:
                raise BodyTooLarge
            body = await _read_body(receive, self._max_body_bytes)
        except BodyTooLarge:
            answer = refusal(413, "too_large", f"body over {self._max_body_bytes} bytes")
        except ClientGone:
            self._metrics.requests_with("client_gone").inc()
            log.info("webhook_client_gone", latency_ms=round((time.perf_counter() - started) * 1000, 2))
            return
        else:
            answer = await self._receiver.receive(body, signature)
        await _send_json(send, answer)
        self._metrics.requests_with(answer.outcome).inc()
        log.info(
            "webhook_request",
            outcome=answer.outcome,
            status=answer.status,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            **answer.log_fields,
        )


def _headers_of(scope: Scope) -> tuple[int | None, str | None]:
    declared_length: int | None = None
    signature: str | None = None
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            declared_length = int(value)
        elif name == _SIGNATURE:
            signature = value.decode("latin-1")
    return declared_length, signature


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send_json(send: Send, answer: WebhookAnswer) -> None:
    content = orjson.dumps(answer.body)
    headers = [*_JSON_HEADERS, (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def _other_routes(config: IngressConfig, publisher: InboundPublisher, metrics: IngressMetrics) -> FastAPI:
    app = FastAPI(title="ConectaPro ingress", version="1", docs_url=None, redoc_url=None)

    @app.get("/webhook", response_class=PlainTextResponse)
    async def verify_subscription(
        mode: Annotated[str | None, Query(alias="hub.mode")] = None,
        token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
        challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
    ) -> Response:
        token_ok = token is not None and hmac.compare_digest(token.encode(), config.verify_token.encode())
        if mode == "subscribe" and token_ok and challenge is not None:
            log.info("webhook_verified")
            return PlainTextResponse(challenge)
        log.warning("webhook_verification_refused", mode=mode)
        return PlainTextResponse("verification refused", status_code=403)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        if publisher.connected:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"error": "NATS not connected"}, status_code=503)

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
