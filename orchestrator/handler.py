"""Handles one inbound update: understand it and decide on it through the one decision path
(``orchestrator.decision_path``: load, decide, append atomically with the update's id as inbox id, retry
on a version conflict), or record it as a fact (delivery statuses, account errors).

The inbound dedupe key is the append's inbox id, so a redelivered update commits nothing twice.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

import structlog
from prometheus_client import Counter

from contracts.commands import CustomerCommand, HandleCustomerMessage, HandleTechnicianMessage, Understanding
from contracts.inbound import InboundEnvelope, InboundError, InboundMessage, InboundStatus
from contracts.outbound import DeliveryStatus, ReplyDeliveryUpdated, reply_id_from_callback_data
from contracts.whatsapp_account_events import WhatsAppErrorReported
from eventstore import EventStore
from infra.pipeline_metrics import INBOUND_HANDLED, TEXTS_CUT
from orchestrator import leads_flow
from orchestrator.decision_path import Appended, Appender, DecisionPath, given
from orchestrator.domain.model import CustomerState
from orchestrator.domain.providers import ProviderView
from orchestrator.identity import People, account_stream_id, deliveries_stream_id
from orchestrator.language_model import LanguageModel, LanguageModelOff, understand_message
from orchestrator.provider_directory import ProviderDirectory
from orchestrator.raw_statuses import RawStatuses

log = structlog.get_logger("orchestrator")


class Outcome(StrEnum):
    HANDLED = "handled"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


def _outcome(appended: Appended) -> Outcome:
    return Outcome.DUPLICATE if appended.duplicate else Outcome.HANDLED


@functools.cache
def _handled(kind: str, outcome: Outcome) -> Counter:
    """The counter of one kind and outcome, looked up once (not a label lookup per update)."""
    return INBOUND_HANDLED.labels(kind, outcome.value)


class InboundHandler:
    def __init__(
        self,
        store: EventStore,
        directory: ProviderDirectory,
        *,
        people: People,
        clock: Callable[[], datetime],
        language_model: LanguageModel | None = None,
        appender: Appender | None = None,
        raw_statuses: RawStatuses | None = None,
        facts: Appender | None = None,
    ) -> None:
        self._directory = directory
        #: Deletes the stored webhook of a status whose recipient was forgotten (None: kept, e.g. unit tests).
        self._raw_statuses = raw_statuses
        self._people = people
        self._clock = clock
        self._language_model = language_model or LanguageModelOff()
        self._decisions = DecisionPath(store, directory, clock=clock, appender=appender, facts=facts)

    async def handle(self, envelope: InboundEnvelope) -> Outcome:
        started = time.perf_counter()
        # No "already handled?" query first: the append's inbox check answers that in the same round trip.
        if isinstance(envelope, InboundMessage):
            outcome = await self._message(envelope)
        elif isinstance(envelope, InboundStatus):
            outcome = await self._status(envelope)
        else:
            outcome = await self._error(envelope)
        _handled(envelope.kind, outcome).inc()
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
        if provider is not None:
            outcome = await self._technician_message(message, phone, provider)
        else:
            outcome = await self._customer_message(message, phone)
        if outcome is Outcome.HANDLED and message.text_truncated_from is not None:
            TEXTS_CUT.inc()  # once per recorded message: a redelivery is a duplicate
        return outcome

    async def _customer_message(self, message: InboundMessage, phone: str) -> Outcome:
        customer_key = await self._people.key_for(phone)
        received_at = message.occurred_at or self._clock()
        # After a conflict the state may ask another question; the same one is not asked of the LLM twice.
        understood: dict[str | None, Understanding] = {}

        async def command_for(state: CustomerState) -> CustomerCommand:
            # Understood in the light of the question pending in this state (again after a conflict).
            understanding = understood.get(state.expecting)
            if understanding is None:
                understanding = await understand_message(
                    message, state.expecting, self._language_model, customer_ref=customer_key
                )
                understood[state.expecting] = understanding
            return HandleCustomerMessage(
                command_id=message.wamid,
                customer_key=customer_key,
                phone=phone,
                profile_name=message.sender_name,
                wamid=message.wamid,
                message_type=message.type,
                received_at=received_at,
                understanding=understanding,
                text_truncated_from=message.text_truncated_from,
            )

        stream_id = leads_flow.customer_stream_id(customer_key)
        return _outcome(await self._decisions.on_customer_stream(stream_id, message.wamid, command_for))

    async def _technician_message(self, message: InboundMessage, phone: str, provider: ProviderView) -> Outcome:
        # Technicians' messages are read by the rules alone: the LLM is for customers' free text (and the
        # audit rebuilds a technician's understanding from the text, never from a model's answer).
        understanding = await understand_message(message, None)
        lead_id = leads_flow.route_technician_message(
            provider, message.reply_id, message.text, asks_for_erasure=understanding.asks_for_erasure
        )
        command = HandleTechnicianMessage(
            command_id=message.wamid,
            provider_id=provider.provider_id,
            lead_id=lead_id,
            phone=phone,
            wamid=message.wamid,
            message_type=message.type,
            received_at=message.occurred_at or self._clock(),
            understanding=understanding,
            text_truncated_from=message.text_truncated_from,
        )
        if lead_id is None:
            return _outcome(await self._decisions.unrouted_technician_message(command))
        stream_id = leads_flow.customer_stream_id(leads_flow.customer_key_of_lead(lead_id))
        return _outcome(await self._decisions.on_customer_stream(stream_id, message.wamid, given(command)))

    async def _status(self, status: InboundStatus) -> Outcome:
        now = self._clock()
        try:
            delivery = DeliveryStatus(status.status)
        except ValueError:
            log.warning("unknown_delivery_status", status=status.status, id=status.wamid)
            return await self._inbox_only(status.dedupe_key, now)
        first_error = status.errors[0] if status.errors else None
        event = ReplyDeliveryUpdated(
            wamid=status.wamid,
            reply_id=reply_id_from_callback_data(status.biz_opaque_callback_data),
            status=delivery,
            occurred_at=status.occurred_at or now,
            error_code=first_error.code if first_error else None,
            error_title=first_error.title if first_error else None,
        )
        recipient = await self._recipient_key(status.recipient_id)
        stream_id = deliveries_stream_id(recipient or "unknown")
        appended = await self._decisions.record(stream_id, [event], cause=status.dedupe_key, now=now)
        if recipient is None and status.recipient_id and self._raw_statuses is not None:
            await self._raw_statuses.delete(status)  # the phone of someone forgotten (``orchestrator.raw_statuses``)
        return _outcome(appended)

    async def _recipient_key(self, recipient: str | None) -> str | None:
        """Whose deliveries a status is. Customers are known from their first message; a phone nobody knows
        is one forgotten since (the statuses of an erasure's goodbye come after it): no person is made for
        it again (None). Technicians get a person at their first status."""
        if not recipient:
            return None
        if self._directory.by_phone(recipient) is not None:
            return await self._people.key_for(recipient)
        return await self._people.find(recipient)

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
        return _outcome(await self._decisions.record(stream_id, [event], cause=error.dedupe_key, now=now))

    async def _error_like(self, message: InboundMessage, reason: str) -> Outcome:
        now = self._clock()
        event = WhatsAppErrorReported(
            code=None, title=reason, message=f"{message.type} message {message.wamid}", details=None, reported_at=now
        )
        stream_id = account_stream_id(message.phone_number_id)
        return _outcome(await self._decisions.record(stream_id, [event], cause=message.wamid, now=now))

    async def _inbox_only(self, inbox_id: str, now: datetime) -> Outcome:
        await self._decisions.record(account_stream_id(None), [], cause=inbox_id, now=now)
        return Outcome.IGNORED
