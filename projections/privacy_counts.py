"""``conectapro_privacy_requests_total``: each export and erasure recorded on ``privacy-requests``, counted by
the projections service as it reads the global order. Requests are answered by processes Prometheus may
not scrape (the CLI) or by several (operator API, closer); the projections read every one.

The runner hands each batch to this once per projection (each from its own checkpoint): a high-water mark
of the global order counts an event once. Labels never hold a name: an admin is ``admin``."""

from __future__ import annotations

from collections.abc import Iterable

from conectapro.privacy_requests import KINDS
from contracts.events import RecordedEvent
from contracts.privacy_events import PRIVACY_REQUESTS_STREAM
from eventstore.store import Checkpoint
from infra import pipeline_metrics as metrics

_NAMED = {"cli": "cli", "retention": "retention"}


def asked_by(requested_by: str) -> str:
    """``PersonForgotten.requested_by`` as a label: the CLI, retention, WhatsApp, or an admin (their name)."""
    if requested_by.endswith("(whatsapp)"):
        return "whatsapp"
    return _NAMED.get(requested_by, "admin")


class PrivacyRequestCounter:
    def __init__(self) -> None:
        self._counted = Checkpoint.START

    def __call__(self, events: Iterable[RecordedEvent]) -> None:
        for event in events:
            at = Checkpoint.of(event)
            if at <= self._counted:
                continue  # handed over again for another projection
            self._counted = at
            kind = KINDS.get(event.type)
            if kind is not None and event.stream_id == PRIVACY_REQUESTS_STREAM:
                by = asked_by(str(event.data.get("requested_by")))
                metrics.PRIVACY_REQUESTS.labels(kind, by, str(event.data.get("outcome"))).inc()
