"""Access and portability (``conectapro privacy export``, ``POST /v1/privacy/export``): everything the event
store holds about the person with this phone, read through their key, as one document.

Built from the person's own streams (the same ones erasure makes unreadable), never from read models,
which may trail the store. Every request and its outcome is a ``DataExported`` event on
``privacy-requests`` with counts and no personal data; a phone the system does not know (never seen, or
forgotten) is recorded as such and gets no document.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conectapro.erasure import person_streams
from conectapro.export_document import build_export
from contracts.events import Event, EventMetadata, NewEvent
from contracts.outbound import sender_stream_id
from contracts.privacy_events import PRIVACY_REQUESTS_STREAM, DataExported, ExportOutcome
from eventstore import ANY_VERSION, PostgresEventStore
from orchestrator.domain.ids import provider_stream_id
from privacy.master_key import normalise_phone
from privacy.setup import Privacy
from projections.operator_api.technician_actions import technician_of_phone


@dataclass(frozen=True)
class Export:
    outcome: ExportOutcome
    request_id: str
    person_key: str | None
    #: None when the phone is not known.
    document: dict[str, Any] | None


async def record_privacy_request(store: PostgresEventStore, event: Event, request_id: str, at: datetime) -> None:
    """Append a request's event to ``privacy-requests`` (correlated by its request id)."""
    metadata = EventMetadata(correlation_id=request_id, recorded_at=at)
    await store.append(PRIVACY_REQUESTS_STREAM, ANY_VERSION,
                       [NewEvent.from_event(event, event_id=uuid.uuid4(), metadata=metadata)])  # fmt: skip


async def export(
    store: PostgresEventStore, privacy: Privacy, phone: str, *, requested_by: str, now: Callable[[], datetime]
) -> Export:
    request_id = str(uuid.uuid4())
    digits = normalise_phone(phone)
    person = await privacy.people.find(digits)
    own_streams = person_streams(person) if person is not None else ()
    provider_id = await technician_of_phone(store, privacy.people, digits)
    technician = provider_stream_id(provider_id) if provider_id is not None else None
    technician_streams = (technician, sender_stream_id(technician)) if technician is not None else ()
    read = await store.read_streams((*own_streams, *technician_streams))
    own = [event for stream in own_streams for event in read.get(stream, ())]
    as_technician = [event for stream in technician_streams for event in read.get(stream, ())]
    if person is None and not as_technician:
        outcome = ExportOutcome.NOT_KNOWN
        await record_privacy_request(store, DataExported(request_id=request_id, person_key=None,
                                                         requested_by=requested_by, outcome=outcome,
                                                         exported_at=now()), request_id, now())  # fmt: skip
        return Export(outcome, request_id, None, None)
    at, found = now(), tuple(stream for stream in (*own_streams, *technician_streams) if read.get(stream))
    built = build_export(own, phone=digits, person_key=person, generated_at=at, technician_events=as_technician)
    document = {"request_id": request_id, **built}
    counts = document["counts"]
    event = DataExported(
        request_id=request_id, person_key=person, requested_by=requested_by, outcome=ExportOutcome.EXPORTED,
        streams=found, events=len(own) + len(as_technician), leads=counts["leads"], messages_in=counts["messages_in"],
        messages_out=counts["messages_out"], exported_at=at,
    )  # fmt: skip
    await record_privacy_request(store, event, request_id, at)
    return Export(ExportOutcome.EXPORTED, request_id, person, document)


def requested_phone(text: str) -> str | None:
    """The WhatsApp number a request names, as digits (spaces, dashes, dots, parentheses and a leading + are
    allowed around them), or None when it cannot be one: 8 to 15 digits with the country code."""
    stripped = text.strip().removeprefix("+")
    if not stripped or any(not (ch.isdigit() or ch in " -.()") for ch in stripped):
        return None
    digits = "".join(ch for ch in stripped if ch.isascii() and ch.isdigit())
    if len(digits) != sum(ch.isdigit() for ch in stripped):
        return None  # digits of another script: not a number WhatsApp uses
    return digits if 8 <= len(digits) <= 15 else None
