"""Meta's webhook signature: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``."""

from __future__ import annotations

import hmac
from enum import Enum

SIGNATURE_HEADER = "x-hub-signature-256"
_PREFIX = "sha256="


class SignatureCheck(Enum):
    VALID = "valid"
    MISSING = "missing"
    INVALID = "invalid"


def sign(body: bytes, app_secret: str) -> str:
    """The header value Meta would send for ``body`` (used by tests, the simulator and the benchmark)."""
    return _PREFIX + hmac.digest(app_secret.encode(), body, "sha256").hex()


def check_signature(body: bytes, header: str | None, app_secret: str) -> SignatureCheck:
    if not header:
        return SignatureCheck.MISSING
    if not header.startswith(_PREFIX):
        return SignatureCheck.INVALID
    # compare_digest: the time taken must not reveal how many leading characters matched.
    if hmac.compare_digest(header.encode(), sign(body, app_secret).encode()):
        return SignatureCheck.VALID
    return SignatureCheck.INVALID
