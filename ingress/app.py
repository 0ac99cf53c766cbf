"""The webhook HTTP surface: Meta's verification, signed update delivery, health and metrics.

Contract with Meta: 200 means "stored, do not send again". So 200 is answered only after JetStream
acknowledged every update of the request (or the payload was parked as a dead letter); when NATS is
down or slow the answer is 503 and Meta retries.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Annotated

import orjson
import structlog
from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from contracts.inbound import normalize
from contracts.whatsapp import WebhookPayload
from ingress.metrics import IngressMetrics
from ingress.publisher import BrokerUnavailable, InboundPublisher
from ingress.signature import SIGNATURE_HEADER, SignatureCheck, check_signature

log = structlog.get_logger("ingress")

#: Meta sends at most 3 MB; a little headroom, and nothing that could exhaust memory.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class IngressConfig:
    app_secret: str
    verify_token: str
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


class BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


def create_app(config: IngressConfig, publisher: InboundPublisher, metrics: IngressMetrics | None = None) -> FastAPI:
    metrics = metrics or IngressMetrics()
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

    async def receive(request: Request) -> Response:
        started = time.perf_counter()
        outcome, response, fields = await _handle(request)
        metrics.requests.labels(outcome=outcome).inc()
        log.info(
            "webhook_request",
            outcome=outcome,
            status=response.status_code,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            **fields,
        )
        return response

    async def _handle(request: Request) -> tuple[str, Response, dict[str, object]]:
        try:
            body = await _read_body(request, config.max_body_bytes)
        except BodyTooLarge:
            return "too_large", _error(413, f"body over {config.max_body_bytes} bytes"), {}
        check = check_signature(body, request.headers.get(SIGNATURE_HEADER), config.app_secret)
        if check is SignatureCheck.MISSING:
            return "signature_missing", _error(401, "missing X-Hub-Signature-256"), {"bytes": len(body)}
        if check is SignatureCheck.INVALID:
            return "signature_invalid", _error(403, "invalid X-Hub-Signature-256"), {"bytes": len(body)}
        try:
            payload = WebhookPayload.model_validate(orjson.loads(body))
        except (orjson.JSONDecodeError, ValidationError, TypeError) as error:
            return await _dead_letter(body, error)
        envelopes = normalize(payload)
        for envelope in envelopes:
            metrics.updates.labels(kind=envelope.kind).inc()
        publish_started = time.perf_counter()
        try:
            report = await publisher.publish(envelopes)
        except BrokerUnavailable as error:
            return "unavailable", _error(503, "broker unavailable, retry later"), {"error": str(error)}
        metrics.publish_seconds.observe(time.perf_counter() - publish_started)
        metrics.duplicates.inc(report.duplicates)
        fields: dict[str, object] = {
            "updates": len(envelopes),
            "published": report.published,
            "duplicates": report.duplicates,
            "ids": [envelope.dedupe_key for envelope in envelopes[:10]],
        }
        return "accepted", JSONResponse({"published": report.published, "duplicates": report.duplicates}), fields

    # A plain Starlette route, not a FastAPI endpoint: the body is read raw (the signature covers the exact
    # bytes) and FastAPI's per-request dependency solving would cost a large share of the time per request.
    app.add_route("/webhook", receive, methods=["POST"])

    async def _dead_letter(body: bytes, error: Exception) -> tuple[str, Response, dict[str, object]]:
        reason = _reason(error)
        try:
            await publisher.dead_letter(body, reason)
        except BrokerUnavailable as unavailable:
            return "unavailable", _error(503, "broker unavailable, retry later"), {"error": str(unavailable)}
        metrics.dead_letters.inc()
        # 200: the payload is authentic and stored; Meta retrying the same bytes cannot fix it.
        return "dead_letter", JSONResponse({"dead_letter": True, "reason": reason}), {"reason": reason}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        if publisher.connected:
            return JSONResponse({"status": "ready"})
        return _error(503, "NATS not connected")

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _reason(error: Exception) -> str:
    if isinstance(error, orjson.JSONDecodeError):
        return f"invalid JSON: {error}"
    if isinstance(error, ValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors()[:5])
        return f"not a WhatsApp webhook: {problems}"
    return f"not a WhatsApp webhook: {error}"
