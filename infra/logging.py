"""Structured logging: one JSON object per line, with secrets and phone numbers never printed whole (nor
the wamids that carry them in base64)."""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

from contracts.personal import WAMID, wamid_carries_phone
from infra.telemetry import log_trace_id

# Chilean mobiles are +56 9 XXXX XXXX; WhatsApp ids are digits only. Any run of 8+ digits is masked, except
# inside a long lowercase-hex token (a person key, a digest): random hex often holds 8 digits in a row.
_LONG_DIGITS = re.compile(r"\+?\d{8,15}")
_HEX_TOKEN = re.compile(r"[0-9a-f]*")
_SHORTEST_HEX_ID = 16
_SHORTEST_MASKED = 8
_SECRET_KEYS = ("secret", "token", "password", "authorization", "signature", "api_key")


def mask_phone(value: str) -> str:
    """'56912345678' → '569*****678': enough to tell numbers apart in logs, not enough to call."""
    digits = value.lstrip("+")
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 6)}{digits[-3:]}"


def mask_text(value: str) -> str:
    if "wamid." in value:
        value = WAMID.sub(_mask_wamid, value)
    return _LONG_DIGITS.sub(_mask_digits, value)


def _mask_digits(match: re.Match[str]) -> str:
    digits = match.group(0)
    if not digits.startswith("+") and _inside_hex_id(match.string, match.start(), match.end()):
        return digits
    return mask_phone(digits)


def _inside_hex_id(text: str, start: int, end: int) -> bool:
    before = len(text[:start]) - len(text[:start].rstrip("0123456789abcdef"))
    after = _HEX_TOKEN.match(text, end)
    token_start, token_end = start - before, after.end() if after else end
    token = text[token_start:token_end]
    return len(token) >= _SHORTEST_HEX_ID and not token.isdigit()


def _mask_wamid(match: re.Match[str]) -> str:
    # Meta's wamids carry the phone in base64: shown as a digest (the same wamid, the same digest).
    wamid = match.group(0)
    if not wamid_carries_phone(wamid):
        return wamid
    return "wamid.~" + hashlib.blake2b(wamid.encode(), digest_size=8).hexdigest()


@functools.lru_cache(maxsize=4096)
def _is_secret_key(key: str) -> bool:
    # Cached: log lines reuse a few dozen key names, and this check ran for every value of every line.
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_KEYS)


def _redact(value: Any, key: str) -> Any:
    if _is_secret_key(key):
        return "[redacted]"
    return _mask(value)


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        # Shorter than the shortest masked run of digits: nothing to mask (most values, e.g. outcomes).
        return mask_text(value) if len(value) >= _SHORTEST_MASKED else value
    if isinstance(value, dict):
        return {k: _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask(v) for v in value]
    return value


def redact_processor(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        event_dict[key] = _redact(value, key)
    return event_dict


def _render_json(event_dict: Any, **_: Any) -> str:
    # orjson: a C encoder that knows datetimes and UUIDs; anything else it cannot encode is
    # written as its str(), as structlog's default renderer does with repr-able objects.
    return orjson.dumps(event_dict, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time (pytest swaps it to capture output)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    renderer: Any = structlog.dev.ConsoleRenderer(colors=False)
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(serializer=_render_json)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            log_trace_id,
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    # One line per HTTP request of the openai SDK's client says nothing the adapter's own lines do not.
    logging.getLogger("httpx2").setLevel(max(logging.WARNING, logging.getLevelNamesMapping()[level.upper()]))
