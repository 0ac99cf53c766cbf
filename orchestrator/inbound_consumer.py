"""Inbound updates, consumed in order per customer: many customers in flight at once.

One durable pull consumer for the whole stream (``orchestrator.inbound_durable`` says why not one per
partition), with up to ``concurrency`` messages per partition handed out at a time (``max_ack_pending``).
Each message joins its sender's lane (``sender_key``, the key that chose its partition): a lane handles its
messages one at a time, in the order JetStream delivered them, and lanes run side by side. A slow message
(an LLM taking its time) or a failing one holds up only its own sender.

**Invariant**: in one process, an update is handled only once every earlier update of the same sender (by
stream sequence) was settled — acknowledged after its events committed, or parked — and never two of one
sender at the same time. How it holds:

* A failure is retried *in place* by its lane, with backoff. It is not nak'ed: the server could then
  redeliver it after the sender's later messages (here, or to another process), whereas in place those
  simply wait in the lane behind it. After ``MAX_DELIVERIES`` failures (deliveries before this one count,
  so a message that kills its process is still parked in the end) it is parked in the dead-letter stream
  with its reason, the sender is told (``on_parked``), and only then acknowledged.
* A message held longer than a third of ``ack_wait`` (waiting in its lane, retried, slow) is marked in
  progress, so the server does not redeliver it meanwhile. A redelivery that still comes (a lost
  connection) replaces the held delivery; it is not handled twice.
* Another process may hold earlier messages of the same sender: one bound to the same consumer, or
  one that died holding them (they come back only when their ack wait runs out, while the server may
  already hand out those senders' later messages). So a delivered message joins its lane only once no
  earlier message of its sender is pending elsewhere: when every message pending on the consumer is
  in this process's hands (then everything it holds may go), or else once each earlier message of its
  sender above the consumer's ack floor was settled here or is in its lane here.
  Once a consumer-info request has shown every pending message in this process's hands, the next
  deliveries pass without asking again as long as their delivery numbers (the consumer's sequence, one
  per delivery to anyone) follow on without a gap: a delivery to another process would have taken the
  missing number. Alone on the consumer, a process asks once; sharing it, it asks for each message it is
  given.
* Messages come through a pull request kept waiting on the server (``infra.pull_feed``): no request per
  message; ``max_ack_pending`` bounds what the process holds.
* On shutdown, lanes finish the message in hand; every message not handled is given back (nak, in stream
  order), so the next process gets them at once and in order.

The store's optimistic concurrency remains the last guard: a decision on a stale state is refused and made
again, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from contracts.inbound import InboundEnvelope, parse_envelope
from contracts.subjects import DEADLETTER_ORCHESTRATOR, INBOUND_STREAM, inbound_partition_subject
from infra import pipeline_metrics as metrics
from infra.failure_facts import describe_failure
from infra.pull_feed import PullFeed
from infra.telemetry import consuming
from orchestrator import consumer
from orchestrator.consumer import OrderedStream
from orchestrator.inbound_durable import INBOUND_CONSUMER, ensure_inbound_consumer

log = structlog.get_logger("orchestrator")

Item = TypeVar("Item")

#: Messages in flight at once, per partition (``INBOUND_CONCURRENCY_PER_PARTITION``).
DEFAULT_CONCURRENCY = 32
#: How often the sender of a parked message is told, at most, before giving up (it stays parked).
TELL_ATTEMPTS = 3
#: While another process holds the oldest pending message, how often the gate looks again.
GATE_POLL_SECONDS = 0.005
#: How long a pull request waits on the server for messages before another replaces it.
PULL_EXPIRES_SECONDS = 5.0

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

Handle = Callable[[Item], Awaitable[object]]
#: Told about a message parked for good, with the reason (the apology to its sender).
OnParked = Callable[[Item, str], Awaitable[object]]


@dataclass(eq=False)
class _Held(Generic[Item]):
    """A message in this process's hands, from delivery until it is settled or given back."""

    message: Msg
    sequence: int
    #: The consumer's sequence of its latest delivery (one number per delivery, to any process).
    delivery: int
    key: str
    item: Item | None
    #: Why it cannot even be parsed (parked at once), else None.
    unparseable: str | None
    #: When it was delivered or last marked in progress (monotonic seconds).
    touched: float


def _sender_filter(subject: str) -> str:
    """Every update of the sender of ``subject`` (``conectapro.inbound.p<N>.<person>.<token>``); of its
    partition for a subject published before person tokens."""
    parts = subject.split(".")
    if len(parts) == 5:
        return f"{parts[0]}.{parts[1]}.*.{parts[3]}.*"
    return ".".join(parts[:3]) + ".>"


class CustomerOrderedConsumer(Generic[Item]):
    def __init__(
        self,
        js: JetStreamContext,
        spec: OrderedStream[Item],
        consumer_name: str,
        handle: Handle[Item],
        stopping: asyncio.Event,
        *,
        key_of: Callable[[Item], str],
        ack_wait: float,
        concurrency: int,
        on_parked: OnParked[Item] | None = None,
    ) -> None:
        self._js = js
        self._spec = spec
        self._consumer_name = consumer_name
        self._handle = handle
        self._stopping = stopping
        self._key_of = key_of
        self._ack_wait = ack_wait
        self._concurrency = concurrency
        self._on_parked = on_parked
        self._held: dict[int, _Held[Item]] = {}
        self._lanes: dict[str, deque[_Held[Item]]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        #: Delivered, waiting until no earlier message of the partition is pending elsewhere.
        self._gated: list[_Held[Item]] = []
        self._gate_moved = asyncio.Event()
        #: Set while no delivery up to this number is pending outside this process (see the module).
        self._trusted_through: int | None = None
        #: Sequences this process settled, which may lie above the consumer's ack floor (forgetting some
        #: only makes the gate wait longer).
        self._settled_here: set[int] = set()
        self._last_delivery = 0
        self._step_seconds = metrics.STEP_SECONDS.labels(spec.noun)  # bound once: not a label lookup per message

    async def run(self) -> None:
        spec = self._spec
        feed = PullFeed(
            self._js, spec.stream, self._consumer_name, self._admit, batch=self._concurrency,
            expires=PULL_EXPIRES_SECONDS,
        )  # fmt: skip
        await feed.start()
        keeper = asyncio.create_task(self._keep_alive(), name=f"{self._consumer_name}-keep-alive")
        gate = asyncio.create_task(self._keep_gate(), name=f"{self._consumer_name}-gate")
        try:
            await self._pull(feed)
        except asyncio.CancelledError:
            # Cancelled, not stopped: abandon what is in hand too (it comes back after its ack wait).
            for worker in self._workers:
                worker.cancel()
            raise
        finally:
            # Nothing more is taken: the server drops a pull request nobody listens to any more.
            await feed.stop()
            for helper in (keeper, gate):
                helper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await helper
            await self._wind_down()

    async def _pull(self, feed: PullFeed) -> None:
        """Keeps a pull request waiting on the server until stopped."""
        while not self._stopping.is_set():
            if feed.closed:
                log.warning(f"{self._spec.noun}_connection_closed", consumer=self._consumer_name)
                return  # closed for good (a lost connection reconnects): nothing more will come
            problem = await feed.keep_waiting((self._stopping,))
            if problem is not None:
                log.warning(f"{self._spec.noun}_fetch_failed", consumer=self._consumer_name, error=problem)
                await self._stopped_within(1.0)

    # ------------------------------------------------------------------------------------------ lanes

    def _admit(self, message: Msg) -> None:
        numbers = message.metadata.sequence
        sequence = numbers.stream if numbers else 0
        delivery = numbers.consumer if numbers else 0
        # Every delivery number so far accounted for: nothing before this one is pending elsewhere.
        in_turn = self._trusted_through is not None and delivery == self._trusted_through + 1
        self._trusted_through = delivery if in_turn else None
        self._last_delivery = max(self._last_delivery, delivery)
        held = self._held.get(sequence)
        if held is not None:
            # Redelivered while we hold it: answer the newest delivery, handle it once.
            held.message = message
            held.delivery = delivery
            return
        entry = self._entry(message, sequence, delivery)
        self._held[sequence] = entry
        if in_turn and not self._gated:
            self._enqueue(entry)
            return
        self._gated.append(entry)
        self._gate_moved.set()

    def _entry(self, message: Msg, sequence: int, delivery: int) -> _Held[Item]:
        now = time.monotonic()
        try:
            item = self._spec.parse(message.data)
        except self._spec.parse_errors as error:
            reason = f"unparseable {self._spec.noun} message: {describe_failure(error)}"
            # A lane of its own: it is parked at once and holds up nobody.
            return _Held(message, sequence, delivery, f"\x00unparseable:{sequence}", None, reason, now)
        return _Held(message, sequence, delivery, self._key_of(item), item, None, now)

    def _enqueue(self, entry: _Held[Item]) -> None:
        lane = self._lanes.get(entry.key)
        if lane is not None:
            lane.append(entry)
            return
        self._lanes[entry.key] = deque([entry])
        worker = asyncio.create_task(self._run_lane(entry.key))
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)

    async def _run_lane(self, key: str) -> None:
        lane = self._lanes[key]
        try:
            while lane and not self._stopping.is_set():
                entry = lane[0]
                if not await self._settle(entry):
                    return  # stopping: the wind-down gives it and the rest of the lane back
                lane.popleft()
                del self._held[entry.sequence]
                self._settled(entry.sequence)
                if self._gated:  # only a gated message waits for others to move: no wake-up per message
                    self._gate_moved.set()
        finally:
            if not lane:
                del self._lanes[key]

    async def _settle(self, entry: _Held[Item]) -> bool:
        """Handle (retrying in place), then acknowledge, or park; False when stopped before either."""
        if entry.item is None:
            return await self._park(entry, entry.unparseable or "unparseable")
        spec, item = self._spec, entry.item
        failures = (entry.message.metadata.num_delivered or 1) - 1
        if failures:
            metrics.REDELIVERIES.labels(spec.stream).inc()
        while True:
            try:
                with (
                    consuming(entry.message.headers, f"{spec.stream} process", delivery=failures + 1),
                    self._step_seconds.time(),
                ):
                    await self._handle(item)
            except Exception as error:  # every failure is retried, then parked; none is lost
                failures += 1
                if failures >= consumer.MAX_DELIVERIES:
                    # What the customer wrote may be in the error's message: only its facts are kept.
                    reason = describe_failure(error)
                    log.error(f"{spec.noun}_failed_permanently", id=spec.id_of(item), error=reason)
                    return await self._park(entry, f"failed {failures} times: {reason}")
                delay = consumer.backoff_for(failures)
                log.warning(
                    f"{spec.noun}_failed_will_retry", id=spec.id_of(item), error=describe_failure(error),
                    failures=failures, delay=delay,
                )  # fmt: skip
                metrics.RETRIES.labels(spec.stream).inc()
                if await self._stopped_within(delay):
                    return False
                continue
            await self._ack(entry)
            return True

    async def _park(self, entry: _Held[Item], reason: str) -> bool:
        while not await consumer.park(self._js, self._spec, entry.message, reason):
            if await self._stopped_within(consumer.BACKOFF_SECONDS[-1]):
                return False
        if entry.item is not None and self._on_parked is not None:
            await self._tell(entry.item, reason)
        await self._ack(entry)
        return True

    async def _tell(self, item: Item, reason: str) -> None:
        assert self._on_parked is not None
        for attempt in range(1, TELL_ATTEMPTS + 1):
            try:
                await self._on_parked(item, reason)
                return
            except Exception as error:  # the message is parked and visible already: do not hold the lane
                log.error(
                    f"{self._spec.noun}_parked_sender_not_told", id=self._spec.id_of(item),
                    error=describe_failure(error), attempt=attempt,
                )  # fmt: skip
                if await self._stopped_within(consumer.backoff_for(attempt)):
                    return

    async def _ack(self, entry: _Held[Item]) -> None:
        try:
            await entry.message.ack()
        except nats.errors.Error as error:
            # Redelivered later; the store's inbox makes that a duplicate that commits nothing.
            log.warning(f"{self._spec.noun}_ack_failed", sequence=entry.sequence, error=repr(error))

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        return self._stopping.is_set()

    # ------------------------------------------------------------------------------------- ack wait

    async def _keep_alive(self) -> None:
        """Marks long-held messages in progress."""
        interval = max(self._ack_wait / 3, 0.1)
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for entry in list(self._held.values()):
                if now - entry.touched >= interval:
                    entry.touched = now
                    with contextlib.suppress(nats.errors.Error):
                        await entry.message.in_progress()

    # ---------------------------------------------------------------------------- the gate

    async def _keep_gate(self) -> None:
        """Lets gated messages into their lanes once nothing earlier is pending elsewhere (see the module)."""
        while True:
            await self._gate_moved.wait()
            self._gate_moved.clear()
            while self._gated:
                try:
                    released = await self._open_gate()
                except (nats.errors.Error, TimeoutError) as error:
                    log.warning(f"{self._spec.noun}_gate_check_failed", consumer=self._consumer_name, error=repr(error))
                    released = False
                if not released:
                    # Someone else holds the oldest pending message: look again when ours move, or shortly.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(GATE_POLL_SECONDS):  # no task per look, unlike wait_for
                            await self._gate_moved.wait()
                    self._gate_moved.clear()

    async def _open_gate(self) -> bool:
        info = await self._js.consumer_info(self._spec.stream, self._consumer_name)
        gated = sorted(self._gated, key=lambda e: e.sequence)
        delivered = info.delivered.consumer_seq if info.delivered is not None else None
        if delivered is not None and info.num_ack_pending is not None:
            # Counted against what we held when the server answered (later deliveries came after its count).
            ours = sum(1 for entry in self._held.values() if entry.delivery <= delivered)
            if info.num_ack_pending <= ours:  # every pending message is ours
                if self._last_delivery == delivered:
                    self._trusted_through = delivered
                return self._release([entry for entry in gated if entry.delivery <= delivered])
        # Others hold some: a message may go once every earlier one of its sender above the ack floor was
        # settled here or waits in its lane here.
        floor = info.ack_floor.stream_seq if info.ack_floor is not None and info.ack_floor.stream_seq else 0
        self._settled_here = {sequence for sequence in self._settled_here if sequence > floor}
        return self._release([entry for entry in gated if await self._first_of_its_sender_elsewhere(entry, floor)])

    async def _first_of_its_sender_elsewhere(self, entry: _Held[Item], floor: int) -> bool:
        """Whether no earlier message of ``entry``'s sender above ``floor`` may be pending in another process."""
        sender = _sender_filter(entry.message.subject)
        after = floor
        while True:
            try:
                earlier = await self._js.get_msg(self._spec.stream, seq=after + 1, subject=sender, next=True)
            except NotFoundError:
                return True  # erased meanwhile: nothing of the sender is left before it
            after = earlier.seq or entry.sequence
            if after >= entry.sequence:
                return True
            held = self._held.get(after)
            if after not in self._settled_here and (held is None or held in self._gated):
                return False

    def _settled(self, sequence: int) -> None:
        if len(self._settled_here) >= 4 * self._concurrency:
            self._settled_here.clear()  # alone on the consumer nobody asks; sharing it, the gate prunes
        self._settled_here.add(sequence)

    def _release(self, entries: list[_Held[Item]]) -> bool:
        for entry in entries:
            self._gated.remove(entry)
            self._enqueue(entry)
        return bool(entries)

    async def _wind_down(self) -> None:
        if self._workers:
            await asyncio.gather(*self._workers, return_exceptions=True)
        for entry in sorted(self._held.values(), key=lambda e: e.sequence):
            with contextlib.suppress(nats.errors.Error):
                await entry.message.nak()
        self._held.clear()
        self._lanes.clear()
        self._gated.clear()


async def run_partitions(
    js: JetStreamContext,
    partitions: int,
    handle: Handle[InboundEnvelope],
    stopping: asyncio.Event,
    *,
    ack_wait: float = 30.0,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_parked: OnParked[InboundEnvelope] | None = None,
    spec: OrderedStream[InboundEnvelope] = INBOUND,
) -> None:
    """The inbound stream's consumer: in order per sender, ``concurrency`` messages per partition at once.

    ``spec``: :data:`INBOUND`, or a variant of it (the orchestrator's parses wamids into their pseudonyms)."""
    in_flight = concurrency * partitions
    # Creates or updates: a changed ack wait or concurrency reaches an existing consumer.
    await ensure_inbound_consumer(js, ack_wait=ack_wait, max_ack_pending=in_flight)
    consumer = CustomerOrderedConsumer(
        js,
        spec,
        INBOUND_CONSUMER,
        handle,
        stopping,
        key_of=lambda envelope: envelope.sender_key,
        ack_wait=ack_wait,
        concurrency=in_flight,
        on_parked=on_parked,
    )
    await consumer.run()
