"""The record of personal-data requests (stream ``privacy-requests``), as the organisation shows it: every
access and erasure request, when, who asked, for which person key and what was done. Nothing personal is in
it, so it outlives every erasure and proves each request was answered (Law 21.719 gives 30 days).

Requests made to an operator or on the command line are answered when asked. An erasure the customer asked
for on WhatsApp is answered by the closer after the goodbye: the customer's stream keeps when they asked
(``ErasureRequested``, no personal data), so the listing shows both times. A technician who asks on
WhatsApp is erased by an admin: their stream records the request (``ProviderErasureRequested``), listed by
:func:`pending_technician_requests` until an erasure of that technician answers it.

The record only grows, so a listing reads one page of it: from a position in the stream (the cursor of
the page before) or from the first request at ``since`` (found by a binary search over the stream's
versions, a handful of indexed reads), never the whole stream."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from contracts.events import RecordedEvent
from contracts.lead_events import ErasureRequested
from contracts.privacy_events import PRIVACY_REQUESTS_STREAM
from contracts.provider_events import ProviderErasureRequested
from eventstore import OrderFilter, PostgresEventStore
from orchestrator.domain.ids import customer_stream_id, provider_stream_id

#: Requests of one page at most (the CLI goes through every page).
MAX_PAGE = 1000
#: How far the clocks of the processes that record requests (operator API, closer, CLI) may disagree:
#: ``since`` starts the read this much earlier, then filters on the time each request was answered.
CLOCK_SLACK = timedelta(hours=1)

#: What each kind of request is called, by its event type.
KINDS = {"DataExported": "export", "PersonForgotten": "erasure"}


@dataclass(frozen=True)
class PrivacyRequest:
    request_id: str
    kind: str
    #: When it was answered.
    at: datetime
    #: When the person asked: ``at``, but for an erasure asked for on WhatsApp (see the module's docstring).
    asked_at: datetime
    requested_by: str
    person_key: str | None
    outcome: str
    #: What was done, in numbers (events and messages exported; streams and JetStream messages erased).
    detail: str


#: What was done when nothing was handed over or erased, by outcome.
_NOTHING_DONE = {
    "not_known": "no document: the phone is not known (never seen, or forgotten)",
    "already_forgotten": "nothing to forget: the phone is not known (never seen, or forgotten before)",
    "refused_job_in_progress": "refused: a job of the person's is in progress (as customer or technician)",
    "pending": "asked on WhatsApp by a technician: an admin erases them (privacy forget) once no job is open",
}

#: The technicians' requests in the global order: only ``ProviderErasureRequested`` (every stream's).
_TECHNICIANS_ASKED = OrderFilter(
    stream=PRIVACY_REQUESTS_STREAM,
    exclude_types=frozenset({"DataExported", "PersonForgotten"}),
    others_types=frozenset({ProviderErasureRequested.TYPE}),
    others_field="provider_id",
)


def _detail(event: RecordedEvent) -> str:
    d = event.data
    nothing = _NOTHING_DONE.get(str(d.get("outcome")))
    if nothing is not None:
        return nothing
    if event.type == "DataExported":
        return (f"{d.get('leads', 0)} leads, {d.get('messages_in', 0)} messages in, "
                f"{d.get('messages_out', 0)} out ({d.get('events', 0)} events)")  # fmt: skip
    forced = ", forced" if d.get("forced") else ""
    technician = f", technician {d['provider_id']} deactivated" if d.get("provider_id") else ""
    return (f"{len(d.get('streams') or ())} streams, {d.get('jetstream_messages_removed', 0)} JetStream "
            f"messages{technician}{forced}")  # fmt: skip


def request_of(event: RecordedEvent) -> PrivacyRequest | None:
    """The request an event of ``privacy-requests`` records (None for a type this code does not know)."""
    kind = KINDS.get(event.type)
    if kind is None:
        return None
    d = event.data
    return PrivacyRequest(
        request_id=str(d.get("request_id")), kind=kind, at=event.metadata.recorded_at,
        asked_at=event.metadata.recorded_at,
        requested_by=str(d.get("requested_by")), person_key=d.get("person_key") or d.get("provider_id"),
        outcome=str(d.get("outcome")),
        detail=_detail(event),
    )  # fmt: skip


@dataclass(frozen=True)
class RequestPage:
    items: list[PrivacyRequest]
    #: The stream position to read the next page from (``after``); None once the record's end was read.
    next_after: int | None


async def privacy_requests(
    store: PostgresEventStore, *, since: datetime | None = None, after: int = 0, limit: int = MAX_PAGE
) -> RequestPage:
    """A page of the requests recorded after stream position ``after`` (from ``since`` on when given),
    oldest first."""
    start = after + 1
    if since is not None:
        start = max(start, await _first_version_from(store, since - CLOCK_SLACK))
    events = await store.read_stream(PRIVACY_REQUESTS_STREAM, start, min(limit, MAX_PAGE))
    found = (request_of(event) for event in events)
    requests = [r for r in found if r is not None and (since is None or r.at >= since)]
    next_after = events[-1].stream_version if len(events) == min(limit, MAX_PAGE) else None
    return RequestPage(await _with_asked_at(store, requests), next_after)


async def latest_privacy_requests(store: PostgresEventStore, count: int) -> list[PrivacyRequest]:
    """The last ``count`` requests recorded, newest first."""
    version = await store.stream_version(PRIVACY_REQUESTS_STREAM)
    page = await privacy_requests(store, after=max(0, version - count), limit=count)
    return list(reversed(page.items))


async def _first_version_from(store: PostgresEventStore, moment: datetime) -> int:
    """The first stream version recorded at or after ``moment`` (one past the end when none is)."""
    low, high = 1, await store.stream_version(PRIVACY_REQUESTS_STREAM) + 1
    while low < high:
        middle = (low + high) // 2
        [event] = await store.read_stream(PRIVACY_REQUESTS_STREAM, middle, 1)
        if event.metadata.recorded_at < moment:
            low = middle + 1
        else:
            high = middle
    return low


async def _with_asked_at(store: PostgresEventStore, requests: list[PrivacyRequest]) -> list[PrivacyRequest]:
    erased = {r.person_key for r in requests if r.kind == "erasure" and r.outcome == "forgotten" and r.person_key}
    if not erased:
        return requests
    asked = await store.read_streams([customer_stream_id(key) for key in erased], types=["ErasureRequested"])
    asked_at = {stream: events[-1].to_event() for stream, events in asked.items() if events}
    return [_asked(r, asked_at.get(customer_stream_id(r.person_key))) if r.person_key else r for r in requests]


def _asked(request: PrivacyRequest, erasure_requested: object) -> PrivacyRequest:
    if request.kind != "erasure" or not isinstance(erasure_requested, ErasureRequested):
        return request
    return replace(request, asked_at=min(request.at, erasure_requested.requested_at))


async def pending_technician_requests(store: PostgresEventStore) -> list[PrivacyRequest]:
    """Erasures technicians asked for on WhatsApp that no erasure has answered yet, oldest first: one
    filtered read of the global order (the store has no index by type; listings are rare)."""
    asked: list[tuple[str, int, ProviderErasureRequested]] = []
    horizon, after = await store.horizon(), (0, 0)
    while rows := await store.read_filtered(_TECHNICIANS_ASKED, after, horizon, MAX_PAGE):
        after = (rows[-1][5], rows[-1][6])
        asked += [(row[0], row[1], ProviderErasureRequested.model_validate(row[4])) for row in rows]
    streams = {stream for stream, _, _ in asked}
    forgotten = await store.read_streams(streams, types=["ProviderForgotten"]) if streams else {}
    return [
        PrivacyRequest(
            request_id=f"{stream}@{version}", kind="erasure", at=event.requested_at, asked_at=event.requested_at,
            requested_by="whatsapp", person_key=event.provider_id, outcome="pending", detail=_NOTHING_DONE["pending"],
        )
        for stream, version, event in asked
        if stream == provider_stream_id(event.provider_id) and not forgotten.get(stream)
    ]  # fmt: skip
