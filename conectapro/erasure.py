"""Erasure (``conectapro privacy forget``): the person's key and phone mapping are deleted, their messages in
JetStream too; every event stays in place with its personal fields unreadable for good.

Refused while the person has a job in progress (a lead offered to or assigned to a technician; for a
technician, a job they accepted and have not finished) unless forced. A technician's phone also forgets the
technician: ``ProviderForgotten`` on their stream deactivates them for good and blanks their name and phone
in every view and read model; their key (their id, when registered since technicians are people) goes with
the person's. Idempotent: a phone the system does not know (never seen, or forgotten before) is recorded as such.
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

from contracts.commands import ForgetProvider
from contracts.events import EventMetadata, NewEvent
from contracts.outbound import sender_stream_id
from contracts.personal import SUPPRESSED
from contracts.privacy_events import PRIVACY_REQUESTS_STREAM, ErasureOutcome, PersonForgotten
from eventstore import ANY_VERSION, PostgresEventStore
from orchestrator import leads_flow
from orchestrator.domain.erasure import JOB_IN_PROGRESS
from orchestrator.domain.ids import customer_stream_id, provider_stream_id
from orchestrator.domain.model import CustomerState
from orchestrator.identity import deliveries_stream_id
from orchestrator.provider_directory import ProviderDirectory
from privacy.jetstream_erasure import STREAMS, delete_messages_of
from privacy.person_tokens import PersonTokens
from privacy.setup import Privacy
from projections.operator_api.technician_actions import execute, technician_of_phone

__all__ = ["JOB_IN_PROGRESS", "Erasure", "forget", "forget_person", "person_streams", "technician_streams"]


@dataclass(frozen=True)
class Erasure:
    outcome: ErasureOutcome
    person_key: str | None
    streams: tuple[str, ...] = ()
    jetstream_messages_removed: int = 0
    #: The technician forgotten with the person (their phone was a technician's).
    provider_id: str | None = None


def person_streams(person_key: str) -> tuple[str, ...]:
    customer = customer_stream_id(person_key)
    return customer, sender_stream_id(customer), deliveries_stream_id(person_key)


def technician_streams(provider_id: str) -> tuple[str, ...]:
    technician = provider_stream_id(provider_id)
    return technician, sender_stream_id(technician)


async def forget(
    store: PostgresEventStore,
    privacy: Privacy,
    js: JetStreamContext | None,
    phone: str,
    *,
    requested_by: str,
    force: bool,
    now: Callable[[], datetime],
    directory: ProviderDirectory | None = None,
) -> Erasure:
    """``directory``: the technicians as a caller keeps them (the operator API); else folded for this call."""
    person = await privacy.people.find(phone)
    technician = await technician_of_phone(store, privacy.people, phone)
    return await _forget(store, privacy, js, person, phone, requested_by=requested_by, force=force, now=now,
                         technician=technician, directory=directory)  # fmt: skip


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


_LEADS_OF_TECHNICIAN = """
SELECT lead_id FROM read_models.leads WHERE provider_id = $1 OR offered_to = $1 ORDER BY lead_id
"""


async def _leads_of_technician(
    store: PostgresEventStore, provider_id: str, directory: ProviderDirectory
) -> tuple[str, ...]:
    """The leads a technician was offered or assigned: the leads read model's (it may trail the store by a
    moment) and the directory's open ones."""
    view = directory.views.get(provider_id)
    found = list(view.active_leads + view.pending_offers) if view is not None else []
    if await store.pool.fetchval("SELECT to_regclass('read_models.leads') IS NOT NULL"):
        found += [row[0] for row in await store.pool.fetch(_LEADS_OF_TECHNICIAN, provider_id)]
    return tuple(sorted(set(found)))


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
    technician: str | None = None,
    directory: ProviderDirectory | None = None,
) -> Erasure:
    request_id = str(uuid.uuid4())
    if person is None and technician is None:
        erasure = Erasure(ErasureOutcome.ALREADY_FORGOTTEN, None)
    else:
        busy = False
        if person is not None:
            lead = (state if state is not None else await _state_of(store, person)).open_lead
            busy = lead is not None and lead.status in JOB_IN_PROGRESS
        if technician is not None:
            directory = directory or ProviderDirectory(store)
            await directory.catch_up()
            view = directory.views.get(technician)
            busy = busy or (view is not None and bool(view.active_leads))
        if busy and not force:
            erasure = Erasure(ErasureOutcome.REFUSED_JOB_IN_PROGRESS, person, provider_id=technician)
        else:
            streams: tuple[str, ...] = person_streams(person) if person is not None else ()
            if technician is not None:
                # First, so a crash before the key's deletion leaves a technician who gets no offers; the
                # erasure run again finds them forgotten and finishes.
                assert directory is not None  # caught up above
                leads = await _leads_of_technician(store, technician, directory)
                command = ForgetProvider(command_id=f"privacy-{request_id}", provider_id=technician, leads=leads)
                await execute(store, command, clock=now, directory=directory)
                streams = (*streams, *technician_streams(technician))
            removed = 0
            if js is not None and phone is not None:
                tokens = PersonTokens.of(privacy.master)
                removed = await delete_messages_of(js, phone, jetstream_streams, person_token=tokens)
            erasure = Erasure(ErasureOutcome.FORGOTTEN, person, streams, removed, provider_id=technician)
    event = PersonForgotten(
        request_id=request_id, person_key=erasure.person_key, requested_by=requested_by,
        outcome=erasure.outcome, forced=force, streams=erasure.streams,
        jetstream_messages_removed=erasure.jetstream_messages_removed, provider_id=erasure.provider_id,
        decided_at=now(),
    )  # fmt: skip
    recorded = NewEvent.from_event(
        event, event_id=uuid.uuid4(), metadata=EventMetadata(correlation_id=event.request_id, recorded_at=now())
    )
    async with store.pool.acquire() as connection, connection.transaction():
        # The key and the record of its deletion commit together.
        if erasure.outcome == ErasureOutcome.FORGOTTEN and erasure.person_key is not None:
            await privacy.people.erase(erasure.person_key, connection)
        await store.append(PRIVACY_REQUESTS_STREAM, ANY_VERSION, [recorded], connection=connection)
    store.announce_committed([PersonForgotten.TYPE])
    return erasure
