"""Receiving one signed webhook delivery: check, parse, publish, and say what to answer Meta.

Framework-free on purpose: the ASGI layer (``ingress/app.py``) only reads the body and writes the answer,
so the per-request path has no routing, dependency solving or middleware in it (at thousands of requests
per second those cost more than the work itself).

Contract with Meta: 200 means "stored, do not send again". So 200 is answered only after JetStream
acknowledged every update of the request, and parked as a dead letter every part of it that could not be
read (``ingress.unreadable_parts``: one update without its id costs only itself), or the whole payload when
it cannot be read at all; when NATS is down or slow the answer is 503 and Meta retries.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import orjson
import structlog
from pydantic import ValidationError

from contracts.inbound import normalize
from contracts.lone_surrogates import loads_keeping_lone_surrogates, may_hold_lone_surrogates
from infra.failure_facts import describe_failure
from ingress.metrics import IngressMetrics
from ingress.publisher import BrokerUnavailable, InboundPublisher
from ingress.signature import SignatureCheck, check_signature
from ingress.unreadable_parts import read_webhook

log = structlog.get_logger("ingress")

#: How many update ids a request's log line lists (a POST may carry up to 1,000 updates).
LOGGED_IDS = 10


@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    body: dict[str, object]
    #: The metrics label and log field: accepted, dead_letter, unavailable, signature_missing, ...
    outcome: str
    log_fields: dict[str, object] = field(default_factory=dict)


def refusal(status: int, outcome: str, reason: str, **log_fields: object) -> WebhookAnswer:
    return WebhookAnswer(status, {"error": reason}, outcome, log_fields)


class WebhookReceiver:
    def __init__(self, app_secret: str, publisher: InboundPublisher, metrics: IngressMetrics) -> None:
        self._app_secret = app_secret
        self._publisher = publisher
        self._metrics = metrics

    async def receive(self, body: bytes, signature: str | None) -> WebhookAnswer:
        check = check_signature(body, signature, self._app_secret)
        if check is SignatureCheck.MISSING:
            return refusal(401, "signature_missing", "missing X-Hub-Signature-256", bytes=len(body))
        if check is SignatureCheck.INVALID:
            return refusal(403, "signature_invalid", "invalid X-Hub-Signature-256", bytes=len(body))
        try:
            payload, unreadable = read_webhook(_json_of(body))
        except (orjson.JSONDecodeError, ValidationError, TypeError) as error:
            return await self._dead_letter(body, error)
        envelopes = normalize(payload)
        for envelope in envelopes:
            self._metrics.updates_of(envelope.kind).inc()
        publish_started = time.perf_counter()
        try:
            report = await self._publisher.publish(envelopes)
            parked = await self._publisher.park_parts(unreadable)
        except BrokerUnavailable as error:
            return refusal(503, "unavailable", "broker unavailable, retry later", error=str(error))
        self._metrics.publish_seconds.observe(time.perf_counter() - publish_started)
        if report.duplicates:
            self._metrics.duplicates.inc(report.duplicates)
        answer: dict[str, object] = {"published": report.published, "duplicates": report.duplicates}
        log_fields: dict[str, object] = {
            "updates": len(envelopes),
            "published": report.published,
            "duplicates": report.duplicates,
            "ids": [envelope.dedupe_key for envelope in envelopes[:LOGGED_IDS]],
        }
        if not unreadable:
            return WebhookAnswer(200, answer, "accepted", log_fields)
        self._metrics.dead_letters.inc(parked)
        # 200 still: the readable updates are stored, and Meta sending the same bytes again cannot fix the rest.
        answer["parked"] = len(unreadable)
        log_fields["parked"] = len(unreadable)
        log_fields["reasons"] = [part.reason for part in unreadable[:LOGGED_IDS]]
        return WebhookAnswer(200, answer, "parts_parked", log_fields)

    async def _dead_letter(self, body: bytes, error: Exception) -> WebhookAnswer:
        reason = _reason(error)
        try:
            await self._publisher.dead_letter(body, reason)
        except BrokerUnavailable as unavailable:
            return refusal(503, "unavailable", "broker unavailable, retry later", error=str(unavailable))
        self._metrics.dead_letters.inc()
        # 200: the payload is authentic and stored; Meta retrying the same bytes cannot fix it.
        return WebhookAnswer(200, {"dead_letter": True, "reason": reason}, "dead_letter", {"reason": reason})


def _json_of(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        # A lone surrogate is no reason to lose an authentic message (``contracts.lone_surrogates``).
        if not may_hold_lone_surrogates(body):
            raise
        with contextlib.suppress(ValueError, RecursionError):  # not JSON either way: orjson's reason
            return loads_keeping_lone_surrogates(body)
        raise


def _reason(error: Exception) -> str:
    """Stored with the letter, answered to Meta and logged: facts of the failure, never the payload's words
    (``infra.failure_facts``)."""
    if isinstance(error, orjson.JSONDecodeError):
        return f"invalid JSON: {describe_failure(error)}"
    return f"not a WhatsApp webhook: {describe_failure(error)}"
