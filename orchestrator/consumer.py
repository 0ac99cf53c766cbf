"""JetStream consumers of partitioned streams: one durable pull consumer per partition, strictly in order.

The timer commands are consumed this way; inbound messages in order per customer instead
(``orchestrator.inbound_consumer``), with the same retries and the same parking (:func:`park`).

``max_ack_pending = 1``: the server hands a partition's next message out only after the previous one was
acknowledged, so one customer's messages (and timer commands) are decided in the order they were stored,
even across redeliveries. Ack comes only after the events are committed. A failure is retried in place
with backoff (nak with delay, which also holds the partition back); after ``MAX_DELIVERIES`` the message
is parked in the dead-letter stream with its error and acknowledged — never dropped, never blocking its
partition forever. Each stream is described by an :class:`OrderedStream`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from contracts.subjects import ORIGINAL_SUBJECT_HEADER, REASON_HEADER, dead_letter_subject
from infra import pipeline_metrics as metrics
from infra.failure_facts import describe_failure
from infra.pull_feed import PullFeed
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

    def consumer_config(self, partition: int, ack_wait: float, max_ack_pending: int = 1) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.consumer_name(partition),
            filter_subject=self.partition_subject(partition),
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            # How long a message handed to a consumer that died stays invisible: it holds the partition
            # back for that long after a crash, and must exceed the slowest handling (retries are in place).
            ack_wait=ack_wait,
            max_ack_pending=max_ack_pending,
            # We count deliveries ourselves and dead-letter; the server must not give up silently before us.
            max_deliver=-1,
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
        # A pull request waits on the server (``infra.pull_feed``): an idle partition costs one request
        # per few seconds, not a fetch a second. max_ack_pending = 1 hands out one message at a time.
        delivered: deque[Msg] = deque()
        arrived = asyncio.Event()

        def take(message: Msg) -> None:
            delivered.append(message)
            arrived.set()

        feed = PullFeed(self._js, spec.stream, spec.consumer_name(self._partition), take, batch=16)
        await feed.start()
        try:
            while not self._stopping.is_set():
                if delivered:
                    await self._process(delivered.popleft())
                    continue
                arrived.clear()
                problem = await feed.keep_waiting((arrived, self._stopping))
                if problem is not None:
                    log.warning(f"{spec.noun}_fetch_failed", partition=self._partition, error=problem)
                    await asyncio.sleep(1.0)
        finally:
            await feed.stop()
            for message in delivered:  # not handled: back to the server at once, for the next process
                with contextlib.suppress(nats.errors.Error):
                    await message.nak()

    async def _process(self, message: Msg) -> None:
        spec = self._spec
        try:
            item = spec.parse(message.data)
        except spec.parse_errors as error:
            await self._dead_letter(message, f"unparseable {spec.noun} message: {describe_failure(error)}")
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
                reason = describe_failure(error)
                log.error(f"{spec.noun}_failed_permanently", id=spec.id_of(item), error=reason, delivery=delivery)
                await self._dead_letter(message, f"failed {delivery} times: {reason}")
                return
            delay = backoff_for(delivery)
            log.warning(
                f"{spec.noun}_failed_will_retry", id=spec.id_of(item), error=describe_failure(error), delivery=delivery,
                delay=delay,
            )
            metrics.RETRIES.labels(spec.stream).inc()
            await message.nak(delay=delay)
            return
        await message.ack()

    async def _dead_letter(self, message: Msg, reason: str) -> None:
        if await park(self._js, self._spec, message, reason):
            await message.ack()
            return
        # Not parked: leave it unacknowledged so it comes back, rather than lose it.
        with contextlib.suppress(nats.errors.Error):
            await message.nak(delay=BACKOFF_SECONDS[-1])


async def park(js: JetStreamContext, spec: OrderedStream[Item], message: Msg, reason: str) -> bool:
    """Publish ``message`` to the dead-letter stream with its reason; False when JetStream did not take it.

    Its id is the stream sequence, so parking the same message again stores it once. An inbound update's
    letter carries its person token in the subject, where erasing the person finds it.
    """
    sequence = message.metadata.sequence.stream if message.metadata.sequence else 0
    headers = {
        REASON_HEADER: reason[:1000],
        ORIGINAL_SUBJECT_HEADER: message.subject,
        "Nats-Msg-Id": f"orchestrator:{spec.stream}:{sequence}",
    }
    try:
        subject = dead_letter_subject(spec.dead_letter_subject, message.subject)
        await js.publish(subject, message.data, headers=headers, timeout=5.0)
    except (nats.errors.Error, TimeoutError) as error:
        log.error(f"{spec.noun}_dead_letter_failed", error=repr(error), sequence=sequence)
        return False
    metrics.DEAD_LETTERS.labels(spec.stream).inc()
    log.error(f"{spec.noun}_dead_lettered", sequence=sequence, reason=reason[:200])
    return True


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
