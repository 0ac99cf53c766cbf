"""The one durable consumer of ``INBOUND``, and the move to it from the consumers per partition.

Why one: nats-server writes a consumer's state (delivered, acknowledged) to its own file, with an fsync
under ``sync_interval: always``, at most every 100 ms per consumer with anything new. A consumer per
partition made that one write per update or two at a low rate (each partition sees a message now and
then), more than the stream's own writes. One consumer over the whole stream shares those writes across
every partition. The order per customer never came from the partitions' consumers but from the lanes
(``orchestrator.inbound_consumer``); the partition in the subject still bounds the cross-process gate.

The move: a release that still had the consumers per partition (``orchestrator-p<N>``) may have left them
holding messages not yet acknowledged. The new consumer starts at the oldest message any of them might
still owe (its ack floor, or nothing when it had handed out and settled everything it filters), so
nothing is skipped; what they settled above that comes again and the inbox makes it a duplicate. Only
then are they deleted. Stop the older orchestrators before starting this one: one still running would
handle the same messages a second time (committing nothing: the inbox) until it stops.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re

import structlog
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from contracts.subjects import INBOUND_STREAM, INBOUND_SUBJECTS

log = structlog.get_logger("orchestrator")

#: The orchestrator's durable consumer of every inbound update.
INBOUND_CONSUMER = "orchestrator-inbound"
#: The consumers per partition of earlier releases.
_PER_PARTITION = re.compile(r"orchestrator-p\d+")


def _config(ack_wait: float, max_ack_pending: int) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=INBOUND_CONSUMER,
        filter_subject=INBOUND_SUBJECTS,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        # How long a message handed to a process that died stays invisible: it holds its customers back for
        # that long after a crash, and must exceed the slowest handling (retries are in place).
        ack_wait=ack_wait,
        max_ack_pending=max_ack_pending,
        # We count deliveries ourselves and dead-letter; the server must not give up silently before us.
        max_deliver=-1,
    )


async def ensure_inbound_consumer(js: JetStreamContext, *, ack_wait: float, max_ack_pending: int) -> None:
    """Create the consumer (taking over from the per-partition ones), or bring its settings up to date."""
    config = _config(ack_wait, max_ack_pending)
    try:
        existing = await js.consumer_info(INBOUND_STREAM, INBOUND_CONSUMER)
    except NotFoundError:
        existing = None
    if existing is not None:
        # Where it started cannot change; what it was created with is kept.
        config = dataclasses.replace(
            config, deliver_policy=existing.config.deliver_policy, opt_start_seq=existing.config.opt_start_seq
        )
        await js.add_consumer(INBOUND_STREAM, config)
        await _delete_per_partition(js, await _per_partition(js))
        return
    older = await _per_partition(js)
    start = await _owed_from(js, older)
    if start is not None:
        config = dataclasses.replace(config, deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start)
    await js.add_consumer(INBOUND_STREAM, config)
    if older:
        log.info("inbound_consumer_taken_over", replaced=len(older), start_sequence=start)
    await _delete_per_partition(js, older)


async def _per_partition(js: JetStreamContext) -> list[str]:
    infos = await js.consumers_info(INBOUND_STREAM)
    return [info.name for info in infos if info.name and _PER_PARTITION.fullmatch(info.name)]


async def _owed_from(js: JetStreamContext, consumers: list[str]) -> int | None:
    """The first stream sequence one of ``consumers`` may not have settled (None: no consumer to take
    over, start at the beginning)."""
    if not consumers:
        return None
    last = (await js.stream_info(INBOUND_STREAM)).state.last_seq
    owed = last + 1
    for name in consumers:
        try:
            info = await js.consumer_info(INBOUND_STREAM, name)
        except NotFoundError:
            continue
        if not info.num_pending and not info.num_ack_pending:
            continue  # everything it filters, up to ``last`` at least, was handed out and settled
        floor = info.ack_floor.stream_seq if info.ack_floor is not None and info.ack_floor.stream_seq else 0
        owed = min(owed, floor + 1)
    return owed


async def _delete_per_partition(js: JetStreamContext, consumers: list[str]) -> None:
    for name in consumers:
        with contextlib.suppress(NotFoundError):  # another process took over at the same time
            await js.delete_consumer(INBOUND_STREAM, name)
