"""JetStream consumers of the inbound stream: one durable pull consumer per partition, strictly in order.

``max_ack_pending = 1``: the server hands a partition's next message out only after the previous one was
acknowledged, so one customer's messages are decided in the order they were stored, even across
redeliveries. Ack comes only after the events are committed. A failure is retried in place with backoff
(nak with delay, which also holds the partition back); after ``MAX_DELIVERIES`` the message is parked in
the dead-letter stream with its error and acknowledged — never dropped, never blocking its partition forever.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from contracts.inbound import InboundEnvelope, parse_envelope
from contracts.subjects import DEADLETTER_ORCHESTRATOR, INBOUND_STREAM, REASON_HEADER, inbound_partition_subject

log = structlog.get_logger("orchestrator")

MAX_DELIVERIES = 6
#: Wait before redelivery, by delivery number (1st failure → 0.2 s, ... then 10 s).
BACKOFF_SECONDS = (0.2, 0.5, 1.0, 3.0, 10.0)

Handle = Callable[[InboundEnvelope], Awaitable[object]]


def consumer_name(partition: int) -> str:
    return f"orchestrator-p{partition}"


def consumer_config(partition: int, ack_wait: float) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=consumer_name(partition),
        filter_subject=inbound_partition_subject(partition),
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        # How long a message handed to a consumer that died stays invisible: it holds the partition back
        # for that long after a crash, and must exceed the slowest handling (retries happen in place).
        ack_wait=ack_wait,
        max_ack_pending=1,
        # We count deliveries ourselves and dead-letter; the server must not give up silently before us.
        max_deliver=-1,
    )


def backoff_for(delivery: int) -> float:
    return BACKOFF_SECONDS[min(delivery, len(BACKOFF_SECONDS)) - 1]


class PartitionConsumer:
    def __init__(
        self, js: JetStreamContext, partition: int, handle: Handle, stopping: asyncio.Event, ack_wait: float
    ) -> None:
        self._js = js
        self._ack_wait = ack_wait
        self._partition = partition
        self._handle = handle
        self._stopping = stopping

    async def run(self) -> None:
        # add_consumer creates or updates, so a changed setting (ack wait) reaches an existing consumer.
        await self._js.add_consumer(INBOUND_STREAM, consumer_config(self._partition, self._ack_wait))
        subscription = await self._js.pull_subscribe_bind(durable=consumer_name(self._partition), stream=INBOUND_STREAM)
        while not self._stopping.is_set():
            try:
                messages = await subscription.fetch(batch=1, timeout=1.0)
            except nats.errors.TimeoutError:
                continue
            except (nats.errors.Error, OSError) as error:
                log.warning("inbound_fetch_failed", partition=self._partition, error=repr(error))
                await asyncio.sleep(1.0)
                continue
            for message in messages:
                await self._process(message)

    async def _process(self, message: Msg) -> None:
        try:
            envelope = parse_envelope(message.data)
        except ValidationError as error:
            await self._dead_letter(message, f"unparseable envelope: {error}")
            return
        delivery = message.metadata.num_delivered or 1
        try:
            await self._handle(envelope)
        except Exception as error:
            if delivery >= MAX_DELIVERIES:
                log.error("inbound_failed_permanently", id=envelope.dedupe_key, error=repr(error), delivery=delivery)
                await self._dead_letter(message, f"failed {delivery} times: {error!r}")
                return
            delay = backoff_for(delivery)
            log.warning(
                "inbound_failed_will_retry", id=envelope.dedupe_key, error=repr(error), delivery=delivery, delay=delay
            )
            await message.nak(delay=delay)
            return
        await message.ack()

    async def _dead_letter(self, message: Msg, reason: str) -> None:
        sequence = message.metadata.sequence.stream if message.metadata.sequence else 0
        headers = {
            REASON_HEADER: reason[:1000],
            "Conectapro-Original-Subject": message.subject,
            "Nats-Msg-Id": f"orchestrator:{INBOUND_STREAM}:{sequence}",
        }
        try:
            await self._js.publish(DEADLETTER_ORCHESTRATOR, message.data, headers=headers, timeout=5.0)
        except (nats.errors.Error, TimeoutError) as error:
            # Not parked: leave it unacknowledged so it comes back, rather than lose it.
            log.error("dead_letter_failed", error=repr(error), sequence=sequence)
            with contextlib.suppress(nats.errors.Error):
                await message.nak(delay=BACKOFF_SECONDS[-1])
            return
        log.error("inbound_dead_lettered", sequence=sequence, reason=reason[:200])
        await message.ack()


async def run_partitions(
    js: JetStreamContext, partitions: int, handle: Handle, stopping: asyncio.Event, *, ack_wait: float = 30.0
) -> None:
    consumers = [PartitionConsumer(js, p, handle, stopping, ack_wait) for p in range(partitions)]
    await asyncio.gather(*(consumer.run() for consumer in consumers))
