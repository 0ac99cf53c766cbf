"""Handles one inbound update: load the stream, understand, decide (pure), append atomically.

The inbound dedupe key is the append's inbox id, so a redelivered update commits nothing twice. A version
conflict means another writer got there first: reload and decide again (a few times, then let JetStream
redeliver later).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from enum import StrEnum
from uuid import UUID

import structlog

from contracts.commands import HandleCustomerMessage, HandleTechnicianMessage
from contracts.events import Event, EventMetadata, NewEvent
from contracts.inbound import InboundEnvelope, InboundError, InboundMessage, InboundStatus
from contracts.outbound import DeliveryStatus, ReplyDeliveryUpdated
from contracts.whatsapp_account_events import WhatsAppErrorReported
from eventstore import ANY_VERSION, Checkpoint, ConcurrencyError, EventStore
from orchestrator import leads_flow
from orchestrator.commands_consumer import PROVIDERS_CHECKPOINT_KEY
from orchestrator.domain.ids import event_ids_for
from orchestrator.domain.model import CustomerState
from orchestrator.domain.providers import ProviderView
from orchestrator.identity import account_stream_id, deliveries_stream_id, person_key
from orchestrator.language_model import LanguageModel, LanguageModelOff, understand_message
from orchestrator.provider_directory import ProviderDirectory
from orchestrator.state_cache import CustomerStateCache

log = structlog.get_logger("orchestrator")

MAX_CONFLICT_RETRIES = 5


class Outcome(StrEnum):
    HANDLED = "handled"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


def to_new_events(
    events: Sequence[Event],
    *,
    cause: str,
    now: datetime,
    ids: Callable[[], UUID],
    providers_at: Checkpoint | None = None,
) -> list[NewEvent]:
    fields: dict[str, object] = {"correlation_id": cause, "causation_id": cause, "recorded_at": now}
    if providers_at is not None:
        # Which technicians' views the decision saw: the audit re-decides against exactly those.
        fields[PROVIDERS_CHECKPOINT_KEY] = [providers_at.transaction_id, providers_at.global_position]
    metadata = EventMetadata.model_validate(fields)
    return [NewEvent.from_event(event, event_id=ids(), metadata=metadata) for event in events]


class InboundHandler:
    def __init__(
        self,
        store: EventStore,
        directory: ProviderDirectory,
        *,
        clock: Callable[[], datetime],
        language_model: LanguageModel | None = None,
    ) -> None:
        self._store = store
        self._directory = directory
        self._clock = clock
        self._language_model = language_model or LanguageModelOff()
        self._states = CustomerStateCache(store)

    async def handle(self, envelope: InboundEnvelope) -> Outcome:
        started = time.perf_counter()
        # No "already handled?" query first: the append's inbox check answers that in the same round trip.
        if isinstance(envelope, InboundMessage):
            outcome = await self._message(envelope)
        elif isinstance(envelope, InboundStatus):
            outcome = await self._status(envelope)
        else:
            outcome = await self._error(envelope)
        log.info(
            "inbound_handled",
            kind=envelope.kind,
            id=envelope.dedupe_key,
            outcome=outcome.value,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return outcome

    async def _message(self, message: InboundMessage) -> Outcome:
        phone = message.sender_wa_id or message.sender_id
        if phone is None:
            # Nobody to answer and no stream to put it in: record it where an operator will see it.
            return await self._error_like(message, "message without sender")
        provider = self._directory.by_phone(phone)
        if provider is not None:
            # A technician's message is routed by the leads their view holds: it must include what was
            # committed a moment ago (an offer just accepted), not trail the store like matching may.
            await self._directory.catch_up()
            provider = self._directory.by_phone(phone)
        for attempt in range(1, MAX_CONFLICT_RETRIES + 1):
            try:
                if provider is not None:
                    return await self._technician_message(message, phone, provider)
                return await self._customer_message(message, phone)
            except ConcurrencyError as conflict:
                if attempt == MAX_CONFLICT_RETRIES:
                    raise  # the consumer naks it: JetStream redelivers later
                log.info("append_conflict_retrying", stream=conflict.stream_id, id=message.wamid, attempt=attempt)
        raise AssertionError("unreachable")

    async def _customer_message(self, message: InboundMessage, phone: str) -> Outcome:
        customer_key = person_key(phone)
        stream_id = leads_flow.customer_stream_id(customer_key)
        state = await self._states.load(stream_id)
        understanding = await understand_message(message, state.expecting, self._language_model)
        now = self._clock()
        command = HandleCustomerMessage(
            command_id=message.wamid,
            customer_key=customer_key,
            phone=phone,
            profile_name=message.sender_name,
            wamid=message.wamid,
            message_type=message.type,
            received_at=message.occurred_at or now,
            understanding=understanding,
        )
        events, after = leads_flow.decide_with_state(
            state,
            command,
            providers=self._directory.views,
            now=now,
            new_ids=leads_flow.deterministic_ids(message.wamid),
        )
        return await self._append_decision(stream_id, state, events, after, cause=message.wamid, now=now)

    async def _technician_message(self, message: InboundMessage, phone: str, provider: ProviderView) -> Outcome:
        understanding = await understand_message(message, None, self._language_model)
        lead_id = leads_flow.route_technician_message(provider, message.reply_id, message.text)
        now = self._clock()
        command = HandleTechnicianMessage(
            command_id=message.wamid,
            provider_id=provider.provider_id,
            lead_id=lead_id,
            phone=phone,
            wamid=message.wamid,
            message_type=message.type,
            received_at=message.occurred_at or now,
            understanding=understanding,
        )
        ids = leads_flow.deterministic_ids(message.wamid)
        if lead_id is None:
            events = leads_flow.decide_unrouted_technician_message(command, provider=provider, now=now, new_ids=ids)
            stream_id = leads_flow.provider_stream_id(provider.provider_id)
            return await self._append(stream_id, ANY_VERSION, events, cause=message.wamid, now=now)
        stream_id = leads_flow.customer_stream_id(leads_flow.customer_key_of_lead(lead_id))
        state = await self._states.load(stream_id)
        events, after = leads_flow.decide_with_state(
            state, command, providers=self._directory.views, now=now, new_ids=ids
        )
        return await self._append_decision(stream_id, state, events, after, cause=message.wamid, now=now)

    async def _status(self, status: InboundStatus) -> Outcome:
        now = self._clock()
        try:
            delivery = DeliveryStatus(status.status)
        except ValueError:
            log.warning("unknown_delivery_status", status=status.status, id=status.wamid)
            return await self._append_inbox_only(status.dedupe_key)
        first_error = status.errors[0] if status.errors else None
        event = ReplyDeliveryUpdated(
            wamid=status.wamid,
            status=delivery,
            occurred_at=status.occurred_at or now,
            error_code=first_error.code if first_error else None,
            error_title=first_error.title if first_error else None,
        )
        stream_id = deliveries_stream_id(status.recipient_id or "unknown")
        return await self._append(stream_id, ANY_VERSION, [event], cause=status.dedupe_key, now=now)

    async def _error(self, error: InboundError) -> Outcome:
        now = self._clock()
        event = WhatsAppErrorReported(
            code=error.error.code,
            title=error.error.title,
            message=error.error.message,
            details=error.error.error_data.details if error.error.error_data else None,
            reported_at=now,
        )
        log.warning("whatsapp_account_error", code=error.error.code, title=error.error.title)
        stream_id = account_stream_id(error.phone_number_id)
        return await self._append(stream_id, ANY_VERSION, [event], cause=error.dedupe_key, now=now)

    async def _error_like(self, message: InboundMessage, reason: str) -> Outcome:
        now = self._clock()
        event = WhatsAppErrorReported(
            code=None, title=reason, message=f"{message.type} message {message.wamid}", details=None, reported_at=now
        )
        stream_id = account_stream_id(message.phone_number_id)
        return await self._append(stream_id, ANY_VERSION, [event], cause=message.wamid, now=now)

    async def _append_inbox_only(self, inbox_id: str) -> Outcome:
        await self._store.append(account_stream_id(None), ANY_VERSION, [], inbox_id=inbox_id)
        return Outcome.IGNORED

    async def _append_decision(
        self,
        stream_id: str,
        state: CustomerState,
        events: Sequence[Event],
        after: CustomerState,
        *,
        cause: str,
        now: datetime,
    ) -> Outcome:
        """Append what the decision on ``state`` returned; on success its folded state (``after``) is the
        stream's, and goes to the cache as it is (folding the events again would redo the decision's work)."""
        try:
            outcome = await self._append(stream_id, state.version, events, cause=cause, now=now)
        except ConcurrencyError:
            self._states.forget(stream_id)
            raise
        if outcome is Outcome.HANDLED:
            self._states.appended(stream_id, after)
        else:
            self._states.forget(stream_id)  # someone else handled it: our state is not the stream's
        return outcome

    async def _append(
        self, stream_id: str, expected_version: int, events: Sequence[Event], *, cause: str, now: datetime
    ) -> Outcome:
        new_events = to_new_events(
            events,
            cause=cause,
            now=now,
            ids=event_ids_for(cause),
            providers_at=self._directory.checkpoint,
        )
        result = await self._store.append(stream_id, expected_version, new_events, inbox_id=cause)
        if result.already_handled:
            return Outcome.DUPLICATE
        return Outcome.HANDLED
