"""Sends one message through the WhatsApp Cloud API, retrying only what retrying can fix.

``POST {base_url}/{phone_number_id}/messages`` with ``Authorization: Bearer <token>``. Transient failures
(see :mod:`outbound.send_errors`) are retried with exponential backoff and jitter, never sooner than
the failure's own minimum (6 s for the 131056 pair rate limit, ``Retry-After`` when given), within a
maximum number of attempts and a total time budget. Permanent failures raise at once.

The HTTP client is aiohttp (keep-alive connections, C parser): the sender makes one call per reply, and
the client's own cost per request is most of the sender's work on the Graph API side.

The access token is never logged and never part of ``repr``; recipients appear in logs masked.
No event store here: the sender that owns this client turns :class:`SentMessage` into ``ReplySent`` and
:class:`SendError` into ``ReplyFailed``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import aiohttp
import orjson
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.stop import stop_base

from infra.logging import mask_phone
from infra.telemetry import client_span, inject_context
from outbound.send_errors import (
    FailureKind,
    SendFailure,
    classify_response,
    parse_retry_after,
    transport_failure,
)

log = structlog.get_logger("whatsapp")


@dataclass(frozen=True)
class RetryPolicy:
    #: Attempts in total, the first included.
    max_attempts: int = 5
    #: No retry is started once waiting for it would take the send past this many seconds.
    max_total_seconds: float = 60.0
    #: Exponential backoff: initial * 2**(attempt-1), capped at max_backoff, plus up to ``jitter`` seconds.
    initial_backoff: float = 0.5
    max_backoff: float = 20.0
    jitter: float = 0.5
    #: Multiplies each failure's minimum backoff (131056 → 6 s, Retry-After...). 1.0 in production;
    #: tests shrink it so no test sleeps for real.
    min_backoff_scale: float = 1.0
    #: Seconds for one HTTP request (connect, write, read).
    request_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")


@dataclass(frozen=True)
class SentMessage:
    wamid: str
    #: The recipient's WhatsApp id as Meta normalised it (``contacts[0].wa_id``), when returned.
    wa_id: str | None
    attempts: int


class SendError(Exception):
    """A send that did not happen. ``code`` is Meta's error code, None for a network failure."""

    def __init__(
        self,
        code: int | None,
        reason: str,
        details: str = "",
        *,
        http_status: int | None = None,
        attempts: int = 1,
        failure: SendFailure | None = None,
    ) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.details = details
        self.http_status = http_status
        self.attempts = attempts
        self.failure = failure

    @classmethod
    def from_failure(cls, failure: SendFailure, attempts: int) -> SendError:
        return cls(
            failure.code,
            failure.reason,
            failure.details,
            http_status=failure.http_status,
            attempts=attempts,
            failure=failure,
        )


class PermanentSendError(SendError):
    """Retrying cannot help (e.g. 131047 outside the 24-hour window, 131026 undeliverable)."""


class TransientSendError(SendError):
    """Every attempt failed transiently and the retry budget is spent; a later try may still work."""


class SendLimiter(Protocol):
    """What the client needs from :class:`outbound.throughput.ThroughputLimiter`."""

    async def acquire(self, recipient: str) -> float: ...


class _PastBudget(stop_base):
    """No retry that would start past the total budget, counted from the first attempt (made before tenacity's
    own clock started)."""

    def __init__(self, started: float, budget_seconds: float) -> None:
        self.started = started
        self.budget_seconds = budget_seconds

    def __call__(self, retry_state: RetryCallState) -> bool:
        return time.monotonic() - self.started + retry_state.upcoming_sleep >= self.budget_seconds


class _TransientAttempt(Exception):
    """Internal: one attempt failed in a way worth retrying. Carries the classification to ``wait``."""

    def __init__(self, failure: SendFailure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


class WhatsAppClient:
    def __init__(
        self,
        base_url: str,
        access_token: str,
        phone_number_id: str,
        http: aiohttp.ClientSession | None = None,
        retry: RetryPolicy | None = None,
        *,
        limiter: SendLimiter | None = None,
        wamid_of: Callable[[str], str] = str,
    ) -> None:
        self.retry = retry or RetryPolicy()
        #: The id kept for the wamid Meta returns (``privacy.wamids``: not the phone it carries).
        self._wamid_of = wamid_of
        self.messages_url = f"{base_url.rstrip('/')}/{phone_number_id}/messages"
        self._token = access_token
        self._limiter = limiter
        self._owns_http = http is None
        # Made on first use: a session belongs to the running event loop.
        self._http = http
        self._timeout = aiohttp.ClientTimeout(total=self.retry.request_timeout)

    def __repr__(self) -> str:
        return f"WhatsAppClient({self.messages_url!r})"

    async def aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self._timeout)
        return self._http

    async def __aenter__(self) -> WhatsAppClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def send(self, payload: dict[str, Any]) -> SentMessage:
        """Send one Graph API message body (e.g. from ``contracts.outbound.to_graph_api_payload``).

        Raises :class:`PermanentSendError` without retrying, or :class:`TransientSendError` once retries
        are exhausted."""
        to = str(payload.get("to", ""))
        context = {"to": mask_phone(to), "message_type": payload.get("type", "text")}
        started = time.monotonic()
        # The first attempt goes alone: nearly every send succeeds at once, and a retry library's state,
        # futures and strategies per call would cost as much as the attempt's own work.
        try:
            return await self._attempt(payload, to, 1, context)
        except _TransientAttempt as first:
            return await self._retry(payload, to, context, first.failure, started)

    async def _retry(
        self, payload: dict[str, Any], to: str, context: dict[str, Any], first: SendFailure, started: float
    ) -> SentMessage:
        """Attempts 2.. under tenacity: its attempt 1 stands for the attempt already made and failed."""
        policy = self.retry

        def wait(state: RetryCallState) -> float:
            outcome = state.outcome
            error = outcome.exception() if outcome is not None else None
            failure = error.failure if isinstance(error, _TransientAttempt) else first
            return self._backoff(state.attempt_number, failure)

        def before_sleep(state: RetryCallState) -> None:
            log.info(
                "whatsapp_send_retry_scheduled",
                **context,
                attempt=state.attempt_number,
                wait_seconds=round(state.upcoming_sleep, 3),
            )

        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.max_attempts) | _PastBudget(started, policy.max_total_seconds),
            wait=wait,
            retry=retry_if_exception_type(_TransientAttempt),
            before_sleep=before_sleep,
            reraise=True,
        )
        attempt = 1
        try:
            async for attempt_manager in retrying:
                with attempt_manager:
                    attempt = attempt_manager.retry_state.attempt_number
                    if attempt == 1:
                        raise _TransientAttempt(first)
                    return await self._attempt(payload, to, attempt, context)
        except _TransientAttempt as exhausted:
            log.warning("whatsapp_send_gave_up", **context, attempts=attempt, reason=exhausted.failure.reason)
            raise TransientSendError.from_failure(exhausted.failure, attempt) from None
        raise AssertionError("unreachable: tenacity either returns, retries or re-raises")  # pragma: no cover

    def _backoff(self, attempt: int, failure: SendFailure) -> float:
        """Seconds before the next attempt: exponential with jitter (spreads out senders that failed together),
        but never shorter than the failure itself asks for: 6 s for a pair rate limit, Retry-After when Meta
        sends one."""
        policy = self.retry
        exponential = min(policy.max_backoff, policy.initial_backoff * 2.0 ** (attempt - 1))
        exponential += random.uniform(0, policy.jitter)
        return max(exponential, failure.min_backoff * policy.min_backoff_scale)

    async def _attempt(self, payload: dict[str, Any], to: str, attempt: int, context: dict[str, Any]) -> SentMessage:
        if self._limiter is not None:
            waited = await self._limiter.acquire(to)
            if waited > 0:
                context = {**context, "throttled_seconds": round(waited, 3)}
        started = time.perf_counter()
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"}
        try:
            # The attribute names the httpx instrumentation used before, so traces read the same.
            with client_span("POST", **{"http.method": "POST", "http.url": self.messages_url}):
                async with self._session().post(
                    self.messages_url, data=orjson.dumps(payload), headers=inject_context(headers)
                ) as response:
                    status, raw = response.status, await response.read()
                    retry_after = response.headers.get("retry-after")
        except (aiohttp.InvalidUrlClientError, ValueError) as error:
            # Our own mistake (bad base URL, malformed request): the same request fails the same way.
            failure = transport_failure(f"{type(error).__name__}: {error}", retryable=False)
            self._log_failure(context, attempt, failure, started)
            raise PermanentSendError.from_failure(failure, attempt) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            failure = transport_failure(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)
            self._log_failure(context, attempt, failure, started)
            raise _TransientAttempt(failure) from None

        body = _json_or_text(raw)
        if 200 <= status < 300:
            sent = _sent_message(body, attempt, self._wamid_of)
            if sent is not None:
                log.info(
                    "whatsapp_send_attempt",
                    **context,
                    attempt=attempt,
                    outcome="sent",
                    http_status=status,
                    wamid=sent.wamid,
                    duration_ms=_ms_since(started),
                )
                return sent
            # Meta said yes but gave no wamid. The message may well be out: retrying could send it twice,
            # and there is nothing to record as sent. Surface it instead of guessing.
            failure = replace(
                transport_failure("success response without messages[0].id", retryable=False),
                http_status=status,
            )
            self._log_failure(context, attempt, failure, started)
            raise PermanentSendError.from_failure(failure, attempt)

        failure = classify_response(status, body, retry_after=parse_retry_after(retry_after))
        self._log_failure(context, attempt, failure, started)
        if failure.kind is FailureKind.PERMANENT:
            raise PermanentSendError.from_failure(failure, attempt)
        raise _TransientAttempt(failure)

    @staticmethod
    def _log_failure(context: dict[str, Any], attempt: int, failure: SendFailure, started: float) -> None:
        log.warning(
            "whatsapp_send_attempt",
            **context,
            attempt=attempt,
            outcome=failure.kind.value,
            http_status=failure.http_status,
            error_code=failure.code,
            error_title=failure.title,
            error_details=failure.details,
            fbtrace_id=failure.fbtrace_id,
            duration_ms=_ms_since(started),
        )


def _json_or_text(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", errors="replace")


def _sent_message(body: Any, attempts: int, wamid_of: Callable[[str], str]) -> SentMessage | None:
    """Read ``{"messaging_product": "whatsapp", "contacts": [{"input", "wa_id"}], "messages": [{"id"}]}``."""
    if not isinstance(body, dict):
        return None
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
        return None
    wamid = messages[0].get("id")
    if not isinstance(wamid, str) or not wamid:
        return None
    contacts = body.get("contacts")
    wa_id = None
    if isinstance(contacts, list) and contacts and isinstance(contacts[0], dict):
        candidate = contacts[0].get("wa_id")
        wa_id = candidate if isinstance(candidate, str) else None
    return SentMessage(wamid=wamid_of(wamid), wa_id=wa_id, attempts=attempts)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
