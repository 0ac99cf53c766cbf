"""Publishes normalized updates to JetStream, in payload order, deduplicated by their dedupe key."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nats.aio.client import Client as NATS
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from contracts.inbound import InboundEnvelope, InboundError, dump_envelope
from contracts.subjects import DEADLETTER_INGRESS, DEADLETTER_STREAM, KIND_HEADER, REASON_HEADER, ingress_part_subject
from infra.telemetry import enabled as tracing_enabled
from infra.telemetry import inject_context, publishing
from ingress.acks import AckBatch, AckInbox, AckRefused
from ingress.dedupe import SeenIds
from ingress.unreadable_parts import UnreadablePart

#: Younger than this (by Meta's timestamp), an update's earlier copy is still in JetStream's duplicate
#: window (10 minutes; half of it, for clock skew between Meta and us).
RECENT_SECONDS = 5 * 60.0


def _recent(envelope: InboundEnvelope, now: float) -> bool:
    if isinstance(envelope, InboundError):
        return False  # value.errors carry no timestamp
    try:
        # Meta's unix seconds as sent: no datetime needed to tell their age (absurd ones are far from now).
        age = now - int(envelope.timestamp or "")
    except ValueError:
        return False
    return -RECENT_SECONDS < age < RECENT_SECONDS


def _expire(batch: AckBatch) -> None:
    if not batch.future.done():
        batch.future.set_exception(TimeoutError())


class BrokerUnavailable(RuntimeError):
    """JetStream did not acknowledge in time: the request must fail so that Meta retries it."""


@dataclass(frozen=True)
class PublishReport:
    published: int
    duplicates: int


class InboundPublisher:
    def __init__(
        self,
        nc: NATS,
        js: JetStreamContext,
        *,
        partitions: int,
        person_token: Callable[[str], str],
        ack_timeout: float = 3.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._nc = nc
        self._js = js
        self._seen = SeenIds(js, partitions, person_token)
        self._person_token = person_token
        self._acks = AckInbox(nc)
        self._ack_timeout = ack_timeout

    @property
    def connected(self) -> bool:
        return self._nc.is_connected

    async def publish(self, envelopes: Sequence[InboundEnvelope]) -> PublishReport:
        """Publish every update not seen before; return only after JetStream acknowledged all of them."""
        if not envelopes:
            return PublishReport(0, 0)
        self._require_connection()
        # The same update can appear twice in one payload (Meta's examples reuse wamids): keep the first.
        unique = list({envelope.dedupe_key: envelope for envelope in reversed(envelopes)}.values())[::-1]
        fresh = await self._not_seen_before(unique)
        acks = await self._publish_in_order(fresh)
        published = len(fresh) - acks.duplicates
        return PublishReport(published=published, duplicates=len(envelopes) - published)

    async def _not_seen_before(self, envelopes: list[InboundEnvelope]) -> list[InboundEnvelope]:
        """The updates the durable record has not seen, asking it only about the ones that need it.

        An update whose own timestamp is younger than ``RECENT_SECONDS`` cannot have been published more
        than that long ago, so JetStream's duplicate window (10 minutes) still knows its id and will report
        a repeat as a duplicate: the lookup round trip is skipped for it. Older (or undated) updates are the
        retries that window may have forgotten, and are checked against the durable record.
        """
        now = self._clock()
        to_check = [e for e in envelopes if not _recent(e, now)]
        if not to_check:
            return envelopes
        try:
            seen = await asyncio.wait_for(self._seen.seen_many(to_check), timeout=self._ack_timeout)
        except (TimeoutError, NatsError) as error:
            raise BrokerUnavailable(f"dedupe lookup failed: {error!r}") from error
        known = {e.dedupe_key for e, was_seen in zip(to_check, seen, strict=True) if was_seen}
        return [e for e in envelopes if e.dedupe_key not in known]

    async def _publish_in_order(self, envelopes: Sequence[InboundEnvelope]) -> AckBatch:
        # Each update is written on the one connection in call order, so a sender's updates reach the
        # stream in payload order, while their acknowledgements are awaited together.
        loop = asyncio.get_running_loop()
        batch = AckBatch(loop.create_future())
        if not envelopes:
            return batch
        await self._acks.start()
        # One timer per request, not a wait_for (a task, a waiter and a timer) nor one future per update.
        expiry = loop.call_later(self._ack_timeout, _expire, batch)
        try:
            for envelope in envelopes:
                await self._publish_one(envelope, self._acks.reply_for(batch))
            await batch.future
        except NatsError as error:
            raise BrokerUnavailable(f"JetStream publish failed: {error!r}") from error
        except AckRefused as error:
            raise BrokerUnavailable(f"JetStream publish not acknowledged: {error}") from error
        except TimeoutError as error:
            raise BrokerUnavailable(f"JetStream did not acknowledge {batch.pending} publish(es) in time") from error
        finally:
            expiry.cancel()
            self._acks.forget(batch)
        return batch

    async def _publish_one(self, envelope: InboundEnvelope, reply: str) -> None:
        headers = {"Nats-Msg-Id": envelope.dedupe_key, KIND_HEADER: envelope.kind}
        subject = self._seen.subject_of(envelope)
        if not tracing_enabled():
            await self._nc.publish(subject, dump_envelope(envelope), reply=reply, headers=headers)
            return
        # Each update starts its own trace's hop to the orchestrator: the context rides in its headers.
        with publishing("conectapro.inbound"):
            await self._nc.publish(subject, dump_envelope(envelope), reply=reply, headers=inject_context(headers))

    async def dead_letter(self, body: bytes, reason: str) -> None:
        """Park an authentic payload that cannot be parsed, so a person can look at it. Never dropped."""
        self._require_connection()
        digest = hashlib.sha256(body).hexdigest()
        try:
            await self._js.publish(
                DEADLETTER_INGRESS,
                body,
                timeout=self._ack_timeout,
                # Same bytes, same id: Meta's retries of one broken payload are stored once.
                headers={"Nats-Msg-Id": f"ingress:{digest}", REASON_HEADER: reason[:1000]},
            )
        except (TimeoutError, NatsError) as error:
            raise BrokerUnavailable(f"dead-letter publish not acknowledged: {error!r}") from error

    async def park_parts(self, parts: Sequence[UnreadablePart]) -> int:
        """Park each unreadable part of a webhook whose other parts were published; how many were parked now
        (a retry of the POST finds its parts parked already: each part's subject is its durable record)."""
        if not parts:
            return 0
        self._require_connection()
        parked = 0
        for part in parts:
            token = self._person_token(part.person) if part.person else None
            subject = ingress_part_subject(token, part.letter_key)
            try:
                if await self._stored(subject):
                    continue
                await self._js.publish(
                    subject,
                    part.body,
                    timeout=self._ack_timeout,
                    headers={"Nats-Msg-Id": f"ingress:{part.letter_key}", REASON_HEADER: part.reason[:1000]},
                )
            except (TimeoutError, NatsError) as error:
                raise BrokerUnavailable(f"dead-letter publish not acknowledged: {error!r}") from error
            parked += 1
        return parked

    async def _stored(self, subject: str) -> bool:
        try:
            await self._js.get_last_msg(DEADLETTER_STREAM, subject)
        except NotFoundError:
            return False
        return True

    def _require_connection(self) -> None:
        if not self._nc.is_connected:
            raise BrokerUnavailable("not connected to NATS")
