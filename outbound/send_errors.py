"""What a failed WhatsApp Cloud API send means: retry later (TRANSIENT) or give up now (PERMANENT).

Pure: no I/O, no clock. Meta asks integrators to branch on the numeric ``code`` (and ``error_data.details``),
not on HTTP status or titles, because titles are being deprecated and one HTTP status covers many causes
(most errors, rate limits included, arrive as HTTP 400). So the code decides first; the HTTP status only
decides for codes we do not know, and for responses that carry no Graph error at all (a proxy's 502 page,
a network failure).

Decisions worth knowing:

- **131056 pair rate limit** is transient with a long minimum backoff: Meta lets a business send about one
  message every 6 s to the same user, so retrying sooner only hits the limit again.
- **131048 spam rate limit** is *permanent* for the sender. It is a quality-based restriction on the whole
  number that lasts hours to days; retrying within a send's retry budget cannot lift it, and more sends
  from a number flagged for spam lower its quality further. The reply is recorded as failed so an operator
  sees it (check the number's quality in WhatsApp Manager) and can queue it again.
- **368 temporarily blocked for policy violations** and **131049 per-user marketing limit** are permanent
  for the same reason: "temporary" there means a day, not seconds.
- **4 / 80007 app and account rate limits** are transient but with a one-minute minimum: those windows
  are measured over an hour, so a sub-second retry is wasted.
- A **network failure or timeout** is transient. A timeout after the request was written may mean Meta did
  send the message; the Cloud API has no idempotency key, so retrying risks a duplicate. We accept that:
  a duplicate reply is a nuisance, a lost one breaks the conversation (DESIGN: no message is lost).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FailureKind(StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class SendFailure:
    """One classified failure of one send attempt."""

    kind: FailureKind
    #: Meta's error code, or None when the response carried none (network failure, non-Graph body).
    code: int | None
    #: Our stable short title for the code (Meta's own titles are being deprecated).
    title: str
    #: Meta's ``error_data.details`` (or its ``message``), or the transport error's description.
    details: str
    http_status: int | None = None
    subcode: int | None = None
    fbtrace_id: str | None = None
    #: Seconds to wait at least before the next attempt; 0 for permanent failures.
    min_backoff: float = 0.0

    @property
    def retryable(self) -> bool:
        return self.kind is FailureKind.TRANSIENT

    @property
    def reason(self) -> str:
        """One line for events and logs: ``131047 re-engagement required (outside the 24-hour window): ...``."""
        head = f"{self.code} {self.title}" if self.code is not None else self.title
        return f"{head}: {self.details}" if self.details and self.details != self.title else head


# code → (title, minimum backoff in seconds). Retrying these can succeed once the condition passes.
TRANSIENT_CODES: dict[int, tuple[str, float]] = {
    1: ("API unknown error (possibly a server error)", 1.0),
    2: ("API service temporarily unavailable", 2.0),
    4: ("app API call rate limit reached", 60.0),
    17: ("user API call rate limit reached", 60.0),
    341: ("application limit reached", 60.0),
    80007: ("WhatsApp Business Account rate limit reached", 60.0),
    130429: ("throughput limit reached for the business number", 1.0),
    131000: ("something went wrong at Meta", 1.0),
    131016: ("service temporarily unavailable", 2.0),
    131056: ("pair rate limit hit (too many messages to this user)", 6.0),
    131057: ("business account in maintenance mode", 30.0),
}

# code → title. Retrying these sends the same request into the same refusal.
PERMANENT_CODES: dict[int, str] = {
    0: "authentication failed",
    3: "capability or permission missing",
    10: "permission denied",
    33: "business phone number deleted or invalid",
    100: "invalid parameter",
    190: "access token expired or invalid",
    368: "temporarily blocked for policy violations",
    130472: "recipient is part of a Meta experiment",
    130497: "business account restricted from messaging this country",
    131005: "access denied",
    131008: "required parameter missing",
    131009: "parameter value not valid",
    131021: "recipient is the sender",
    131026: "message undeliverable to this recipient",
    131031: "business account locked",
    131042: "business eligibility (payment) issue",
    131045: "phone number not registered (certificate)",
    131047: "re-engagement required (outside the 24-hour window)",
    131048: "spam rate limit hit (number quality restriction)",
    131049: "per-user marketing limit reached",
    131050: "user stopped marketing messages",
    131051: "unsupported message type",
    131052: "media download error",
    131053: "media upload error",
    135000: "generic user error",
}

_TEMPLATE_CODES = range(132000, 133000)  # template missing, paused, parameter mismatch...: fix the template
_PERMISSION_CODES = range(200, 300)

# Graph messages start with "(#131047) ": the details that follow are the useful part.
_CODE_PREFIX = re.compile(r"^\(#\d+\)\s*")


def classify(
    http_status: int | None,
    code: int | None = None,
    *,
    subcode: int | None = None,
    details: str = "",
    fbtrace_id: str | None = None,
    retry_after: float | None = None,
) -> SendFailure:
    """Classify one failure. ``http_status`` is None for network failures; ``retry_after`` is the header's
    value in seconds, when the response had one (it only ever lengthens the minimum backoff)."""
    kind, title, backoff = _decide(http_status, code)
    if kind is FailureKind.TRANSIENT and retry_after is not None and retry_after > backoff:
        backoff = retry_after
    return SendFailure(
        kind=kind,
        code=code,
        title=title,
        details=details or title,
        http_status=http_status,
        subcode=subcode,
        fbtrace_id=fbtrace_id,
        min_backoff=backoff if kind is FailureKind.TRANSIENT else 0.0,
    )


def _decide(http_status: int | None, code: int | None) -> tuple[FailureKind, str, float]:
    if code is not None:
        if code in TRANSIENT_CODES:
            title, backoff = TRANSIENT_CODES[code]
            return FailureKind.TRANSIENT, title, backoff
        if code in PERMANENT_CODES:
            return FailureKind.PERMANENT, PERMANENT_CODES[code], 0.0
        if code in _TEMPLATE_CODES:
            return FailureKind.PERMANENT, "template error", 0.0
        if code in _PERMISSION_CODES:
            return FailureKind.PERMANENT, "API permission missing", 0.0
    # An unknown code, or none: fall back on what HTTP itself promises.
    if http_status is None:
        return FailureKind.TRANSIENT, "network error", 0.0
    if http_status == 429:
        return FailureKind.TRANSIENT, "HTTP 429 too many requests", 1.0
    if http_status == 408:
        return FailureKind.TRANSIENT, "HTTP 408 request timeout", 0.0
    if http_status >= 500:
        return FailureKind.TRANSIENT, f"HTTP {http_status} server error", 0.0
    label = "unknown error code" if code is not None else f"HTTP {http_status} rejected"
    return FailureKind.PERMANENT, label, 0.0


@dataclass(frozen=True)
class GraphError:
    """The ``error`` object of a Graph API error response."""

    code: int | None
    message: str
    type: str | None = None
    subcode: int | None = None
    details: str | None = None
    fbtrace_id: str | None = None


def parse_graph_error(body: Any) -> GraphError | None:
    """Read ``{"error": {"message", "type", "code", "error_subcode", "error_data": {"details"}, "fbtrace_id"}}``.

    Tolerant on purpose: codes sometimes arrive as strings, ``error_data`` is a string for some template
    errors, and ``error_subcode`` is gone from v16.0 on. Returns None when there is no error object."""
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    if not isinstance(error, Mapping):
        return None
    error_data = error.get("error_data")
    if isinstance(error_data, Mapping):
        details = error_data.get("details")
    elif isinstance(error_data, str):
        details = error_data
    else:
        details = None
    message = error.get("message")
    trace = error.get("fbtrace_id")
    kind = error.get("type")
    return GraphError(
        code=_as_int(error.get("code")),
        message=message if isinstance(message, str) else "",
        type=kind if isinstance(kind, str) else None,
        subcode=_as_int(error.get("error_subcode")),
        details=details if isinstance(details, str) and details else None,
        fbtrace_id=trace if isinstance(trace, str) else None,
    )


def classify_response(http_status: int, body: Any, *, retry_after: float | None = None) -> SendFailure:
    """Classify a non-2xx response from its status and decoded JSON body (anything else when not JSON)."""
    graph = parse_graph_error(body)
    if graph is None:
        text = body if isinstance(body, str) else ""
        return classify(http_status, details=_shorten(text), retry_after=retry_after)
    details = graph.details or _CODE_PREFIX.sub("", graph.message)
    return classify(
        http_status,
        graph.code,
        subcode=graph.subcode,
        details=_shorten(details),
        fbtrace_id=graph.fbtrace_id,
        retry_after=retry_after,
    )


def transport_failure(description: str, *, retryable: bool = True) -> SendFailure:
    """A failure with no HTTP response. Not retryable only for our own mistakes (e.g. a malformed URL)."""
    if retryable:
        return classify(None, details=_shorten(description))
    return SendFailure(FailureKind.PERMANENT, None, "request could not be made", _shorten(description))


def parse_retry_after(value: str | None) -> float | None:
    """The ``Retry-After`` header in seconds (the delta-seconds form; an HTTP date is ignored)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value.strip())
    return None


def _shorten(text: str, limit: int = 300) -> str:
    # Error bodies end up in events and logs: an HTML error page must not bloat either.
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
