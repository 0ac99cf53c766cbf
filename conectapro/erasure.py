"""Erasure (``conectapro privacy forget``): the person's key and phone mapping are deleted, their messages in
JetStream too; every event stays in place with its personal fields unreadable for good.

Refused while the person has a job in progress (a lead offered to or assigned to a technician) unless
forced. Idempotent: a phone the system does not know (never seen, or forgotten before) is recorded as such.
Every request and its outcome is a ``PersonForgotten`` event on ``privacy-requests``, without personal data.
:func:`forget_person` is the same erasure by person key, for the closer (a customer who confirmed it on
WhatsApp, retention): the phone it needs for JetStream is read from the person's own stream.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from nats.js import JetStreamContext

from contracts.events import EventMetadata, NewEvent
from contracts.outbound import sender_stream_id
from contracts.personal import SUPPRESSED
from contracts.privacy_events import PRIVACY_REQUESTS_STREAM, ErasureOutcome, PersonForgotten
from eventstore import ANY_VERSION, PostgresEventStore
from orchestrator import leads_flow
from orchestrator.domain.erasure import JOB_IN_PROGRESS
from orchestrator.domain.ids import customer_stream_id
from orchestrator.domain.model import CustomerState
from orchestrator.identity import deliveries_stream_id
from privacy.jetstream_erasure import STREAMS, delete_messages_of
from privacy.person_tokens import PersonTokens
from privacy.setup import Privacy

__all__ = ["JOB_IN_PROGRESS", "Erasure", "forget", "forget_person", "person_streams"]


@dataclass(frozen=True)
class Erasure:
    outcome: ErasureOutcome
    person_key: str | None
    streams: tuple[str, ...] = ()
    jetstream_messages_removed: int = 0


def person_streams(person_key: str) -> tuple[str, ...]:
    customer = customer_stream_id(person_key)
    return customer, sender_stream_id(customer), deliveries_stream_id(person_key)


async def forget(
    store: PostgresEventStore,
    privacy: Privacy,
    js: JetStreamContext | None,
    phone: str,
    *,
    requested_by: str,
    force: bool,
    now: Callable[[], datetime],
) -> Erasure:
    person = await privacy.people.find(phone)
    return await _forget(store, privacy, js, person, phone, requested_by=requested_by, force=force, now=now)


async def forget_person(
    store: PostgresEventStore,
    privacy: Privacy,
    js: JetStreamContext | None,
    person_key: str,
    *,
    requested_by: str,
    now: Callable[[], datetime],
    jetstream_streams: Sequence[str] = STREAMS,
) -> Erasure | None:
    """:func:`forget` by person key (never forced). None when the person is no longer known (forgotten
    before): nothing is recorded again, so a caller that runs it twice (a crash in between) records once.
    ``jetstream_streams``: where their messages may still be (retention knows ``INBOUND`` expired them)."""
    if not await privacy.people.known(person_key):
        return None
    state = await _state_of(store, person_key)
    phone = state.phone if state.phone not in (None, SUPPRESSED) else None
    return await _forget(store, privacy, js, person_key, phone, requested_by=requested_by, force=False, now=now,
                         state=state, jetstream_streams=jetstream_streams)  # fmt: skip


async def _state_of(store: PostgresEventStore, person_key: str) -> CustomerState:
    return leads_flow.fold(e.to_event() for e in await store.read_stream(customer_stream_id(person_key)))


async def _forget(
    store: PostgresEventStore,
    privacy: Privacy,
    js: JetStreamContext | None,
    person: str | None,
    phone: str | None,
    *,
    requested_by: str,
    force: bool,
    now: Callable[[], datetime],
    state: CustomerState | None = None,
    jetstream_streams: Sequence[str] = STREAMS,
) -> Erasure:
    if person is None:
        erasure = Erasure(ErasureOutcome.ALREADY_FORGOTTEN, None)
    else:
        lead = (state if state is not None else await _state_of(store, person)).open_lead
        if lead is not None and lead.status in JOB_IN_PROGRESS and not force:
            erasure = Erasure(ErasureOutcome.REFUSED_JOB_IN_PROGRESS, person)
        else:
            removed = 0
            if js is not None and phone is not None:
                tokens = PersonTokens.of(privacy.master)
                removed = await delete_messages_of(js, phone, jetstream_streams, person_token=tokens)
            erasure = Erasure(ErasureOutcome.FORGOTTEN, person, person_streams(person), removed)
    event = PersonForgotten(
        request_id=str(uuid.uuid4()), person_key=erasure.person_key, requested_by=requested_by,
        outcome=erasure.outcome, forced=force, streams=erasure.streams,
        jetstream_messages_removed=erasure.jetstream_messages_removed, decided_at=now(),
    )  # fmt: skip
    recorded = NewEvent.from_event(
        event, event_id=uuid.uuid4(), metadata=EventMetadata(correlation_id=event.request_id, recorded_at=now())
    )
    async with store.pool.acquire() as connection, connection.transaction():
        # The key and the record of its deletion commit together.
        if erasure.outcome == ErasureOutcome.FORGOTTEN and erasure.person_key is not None:
            await privacy.people.erase(erasure.person_key, connection)
        await store.append(PRIVACY_REQUESTS_STREAM, ANY_VERSION, [recorded], connection=connection)
    return erasure
