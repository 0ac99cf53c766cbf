"""Events of the ``privacy-requests`` stream: every access or erasure request and what was done, without
personal data (who asked, when, which person key, what was removed), so compliance can be shown."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from contracts.events import Event

PRIVACY_REQUESTS_STREAM = "privacy-requests"


class ErasureOutcome(StrEnum):
    FORGOTTEN = "forgotten"
    ALREADY_FORGOTTEN = "already_forgotten"  # nothing known of that phone (never seen, or forgotten before)
    REFUSED_JOB_IN_PROGRESS = "refused_job_in_progress"


class ExportOutcome(StrEnum):
    EXPORTED = "exported"
    NOT_KNOWN = "not_known"  # nothing known of that phone (never seen, or forgotten before)


class DataExported(Event):
    """An access (export) request and its outcome: how much was handed over, never what."""

    TYPE = "DataExported"

    request_id: str = Field(min_length=1)
    #: None when the phone is not known to the system.
    person_key: str | None
    requested_by: str = Field(min_length=1)
    outcome: ExportOutcome
    #: Streams the document was built from.
    streams: tuple[str, ...] = ()
    events: int = Field(default=0, ge=0)
    leads: int = Field(default=0, ge=0)
    messages_in: int = Field(default=0, ge=0)
    messages_out: int = Field(default=0, ge=0)
    exported_at: datetime


class PersonForgotten(Event):
    """An erasure request and its outcome (also when refused or when there was nothing to forget)."""

    TYPE = "PersonForgotten"

    request_id: str = Field(min_length=1)
    person_key: str | None
    requested_by: str = Field(min_length=1)
    outcome: ErasureOutcome
    forced: bool = False
    #: Streams whose personal fields became unreadable.
    streams: tuple[str, ...] = ()
    #: Events of those streams written before sealing (older stores): they keep their data in clear.
    unsealed_events: int = 0
    #: JetStream messages holding the phone that were deleted (raw webhooks, dead letters).
    jetstream_messages_removed: int = 0
    #: The technician the phone was (forgotten with the person: ``ProviderForgotten`` on their stream). A
    #: technician registered before technicians were people may have no person key of their own.
    provider_id: str | None = Field(default=None, exclude_if=lambda value: value is None)
    decided_at: datetime
