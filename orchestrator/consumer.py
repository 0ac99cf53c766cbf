"""JetStream consumers of partitioned streams: one durable pull consumer per partition, strictly in order.

``max_ack_pending = 1``: the server hands a partition's next message out only after the previous one was
acknowledged, so one customer's messages (and timer commands) are decided in the order they were stored,
even across redeliveries. Ack comes only after the events are committed. A failure is retried in place
with backoff (nak with delay, which also holds the partition back); after ``MAX_DELIVERIES`` the message
is parked in the dead-letter stream with its error and acknowledged — never dropped, never blocking its
partition forever. The same machinery serves the inbound stream (this module) and the closer's commands
(``orchestrator.commands_consumer``), each described by an :class:`OrderedStream`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from contracts.inbound import InboundEnvelope, parse_envelope
from contracts.subjects import DEADLETTER_ORCHESTRATOR, INBOUND_STREAM, REASON_HEADER, inbound_partition_subject
from infra import pipeline_metrics as metrics
from infra.telemetry import consuming

log = structlog.get_logger("orchestrator")

MAX_DELIVERIES = 6
#: Wait before redelivery, by delivery number (1st failure → 0.2 s, ... then 10 s).
BACKOFF_SECONDS = (0.2, 0.5, 1.0, 3.0, 10.0)

Item = TypeVar("Item")


@dataclass(frozen=True)
class OrderedStream(Generic[Item]):
    """What differs between the partitioned streams the orchestrator consumes."""

    stream: str
    consumer_prefix: str
    partition_subject: Callable[[int], str]
    dead_letter_subject: str
    parse: Callable[[bytes], Item]
    parse_errors: tuple[type[Exception], ...]
    id_of: Callable[[Item], str]
    #: Names the items in log lines and dead-letter reasons ("inbound", "command").
    noun: str

    def consumer_name(self, partition: int) -> str:
        return f"{self.consumer_prefix}-p{partition}"

    def consumer_config(self, partition: int, ack_wait: float) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.consumer_name(partition),
            filter_subject=self.partition_subject(partition),
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            # How long a message handed to a consumer that died stays invisible: it holds the partition
            # back for that long after a crash, and must exceed the slowest handling (retries are in place).
            ack_wait=ack_wait,
            max_ack_pending=1,
            # We count deliveries ourselves and dead-letter; the server must not give up silently before us.
            max_deliver=-1,
        )


INBOUND: OrderedStream[InboundEnvelope] = OrderedStream(
    stream=INBOUND_STREAM,
    consumer_prefix="orchestrator",
    partition_subject=inbound_partition_subject,
    dead_letter_subject=DEADLETTER_ORCHESTRATOR,
    parse=parse_envelope,
    parse_errors=(ValidationError,),
    id_of=lambda envelope: envelope.dedupe_key,
    noun="inbound",
)


def backoff_for(delivery: int) -> float:
    return BACKOFF_SECONDS[min(delivery, len(BACKOFF_SECONDS)) - 1]


class PartitionConsumer(Generic[Item]):
    def __init__(
        self,
        js: JetStreamContext,
        spec: OrderedStream[Item],
        partition: int,
        handle: Callable[[Item], Awaitable[object]],
        stopping: asyncio.Event,
        ack_wait: float,
    ) -> None:
        self._js = js
        self._spec = spec
        self._partition = partition
        self._handle = handle
        self._stopping = stopping
        self._ack_wait = ack_wait

    async def run(self) -> None:
        spec = self._spec
        # add_consumer creates or updates, so a changed setting (ack wait) reaches an existing consumer.
        await self._js.add_consumer(spec.stream, spec.consumer_config(self._partition, self._ack_wait))
        subscription = await self._js.pull_subscribe_bind(
            durable=spec.consumer_name(self._partition), stream=spec.stream
        )
        while not self._stopping.is_set():
            try:
                messages = await subscription.fetch(batch=1, timeout=1.0)
            except nats.errors.TimeoutError:
                continue
            except (nats.errors.Error, OSError) as error:
                log.warning(f"{spec.noun}_fetch_failed", partition=self._partition, error=repr(error))
                await asyncio.sleep(1.0)
                continue
            for message in messages:
                await self._process(message)

    async def _process(self, message: Msg) -> None:
        spec = self._spec
        try:
            item = spec.parse(message.data)
        except spec.parse_errors as error:
            await self._dead_letter(message, f"unparseable {spec.noun} message: {error}")
            return
        delivery = message.metadata.num_delivered or 1
        if delivery > 1:
            metrics.REDELIVERIES.labels(spec.stream).inc()
        try:
            with (
                consuming(message.headers, f"{spec.stream} process", delivery=delivery),
                metrics.STEP_SECONDS.labels(spec.noun).time(),
            ):
                await self._handle(item)
        except Exception as error:  # every failure is retried, then parked; none is lost
            if delivery >= MAX_DELIVERIES:
                log.error(f"{spec.noun}_failed_permanently", id=spec.id_of(item), error=repr(error), delivery=delivery)
                await self._dead_letter(message, f"failed {delivery} times: {error!r}")
                return
            delay = backoff_for(delivery)
            log.warning(
                f"{spec.noun}_failed_will_retry", id=spec.id_of(item), error=repr(error), delivery=delivery, delay=delay
            )
            metrics.RETRIES.labels(spec.stream).inc()
            await message.nak(delay=delay)
            return
        await message.ack()

    async def _dead_letter(self, message: Msg, reason: str) -> None:
        spec = self._spec
        sequence = message.metadata.sequence.stream if message.metadata.sequence else 0
        headers = {
            REASON_HEADER: reason[:1000],
            "Conectapro-Original-Subject": message.subject,
            "Nats-Msg-Id": f"orchestrator:{spec.stream}:{sequence}",
        }
        try:
            await self._js.publish(spec.dead_letter_subject, message.data, headers=headers, timeout=5.0)
        except (nats.errors.Error, TimeoutError) as error:
            # Not parked: leave it unacknowledged so it comes back, rather than lose it.
            log.error(f"{spec.noun}_dead_letter_failed", error=repr(error), sequence=sequence)
            with contextlib.suppress(nats.errors.Error):
                await message.nak(delay=BACKOFF_SECONDS[-1])
            return
        metrics.DEAD_LETTERS.labels(spec.stream).inc()
        log.error(f"{spec.noun}_dead_lettered", sequence=sequence, reason=reason[:200])
        await message.ack()


async def run_ordered_partitions(
    js: JetStreamContext,
    spec: OrderedStream[Item],
    partitions: int,
    handle: Callable[[Item], Awaitable[object]],
    stopping: asyncio.Event,
    *,
    ack_wait: float = 30.0,
) -> None:
    consumers = [PartitionConsumer(js, spec, p, handle, stopping, ack_wait) for p in range(partitions)]
    await asyncio.gather(*(consumer.run() for consumer in consumers))


async def run_partitions(
    js: JetStreamContext,
    partitions: int,
    handle: Callable[[InboundEnvelope], Awaitable[object]],
    stopping: asyncio.Event,
    *,
    ack_wait: float = 30.0,
) -> None:
    """The inbound stream's consumers."""
    await run_ordered_partitions(js, INBOUND, partitions, handle, stopping, ack_wait=ack_wait)
