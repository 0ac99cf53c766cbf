"""Stream ids, lead ids and deterministic id sequences. Pure string functions."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from itertools import count
from uuid import UUID

CUSTOMER_STREAM_PREFIX = "customer-"
PROVIDER_STREAM_PREFIX = "provider-"

# Fixed namespace so ids derived from a command id are the same on every run (replay, audit).
_NAMESPACE = UUID("6f1c2b4e-3f6a-4c1d-9a55-0c0ffee0c0de")
# The SHA-1 state after the namespace: each id only hashes its own name, on a copy.
_NAMESPACE_SHA1 = hashlib.sha1(_NAMESPACE.bytes, usedforsecurity=False)


def customer_stream_id(customer_key: str) -> str:
    return f"{CUSTOMER_STREAM_PREFIX}{customer_key}"


def provider_stream_id(provider_id: str) -> str:
    return f"{PROVIDER_STREAM_PREFIX}{provider_id}"


def lead_id_for(customer_key: str, n: int) -> str:
    """The ``n``-th lead of a customer (1-based)."""
    if n < 1:
        raise ValueError("lead numbers start at 1")
    return f"{customer_key}.{n}"


_LEAD_ID = re.compile(r"[A-Za-z0-9_-]{1,128}\.[1-9][0-9]{0,8}")


def is_lead_id(text: str) -> bool:
    """Whether ``text`` has the shape of a lead id (as ``contracts.commands.LeadId`` requires)."""
    return _LEAD_ID.fullmatch(text) is not None


def customer_key_of_lead(lead_id: str) -> str:
    """Which customer stream holds ``lead_id`` (``"abc123.2"`` → ``"abc123"``)."""
    if not is_lead_id(lead_id):
        raise ValueError(f"not a lead id: {lead_id!r}")
    return lead_id.rpartition(".")[0]


def deterministic_ids(seed: str) -> Callable[[], UUID]:
    """A sequence of UUIDs derived from ``seed`` (e.g. a command id): the same seed gives the same ids."""
    counter = count(1)
    return lambda: name_based_id(f"{seed}#{next(counter)}")


def name_based_id(name: str) -> UUID:
    """``uuid.uuid5(namespace, name)``, computed the same way with less work: ``uuid5`` imports hashlib and
    hashes the namespace again on every call, and the audit derives an id for every reply it re-decides."""
    digest = _NAMESPACE_SHA1.copy()
    digest.update(name.encode())
    return UUID(bytes=digest.digest()[:16], version=5)


def event_ids_for(cause: str) -> Callable[[], UUID]:
    """The ids of the events one message or command causes: every writer (handler, commands, sender) uses
    this one scheme, so a replayed decision reproduces its events' ids exactly."""
    return deterministic_ids(f"{cause}/events")
