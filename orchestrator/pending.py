"""How many messages wait for each of the orchestrator's consumers, read from JetStream every few seconds into
a gauge."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import NamedTuple

import nats.errors
import structlog
from nats.js import JetStreamContext

from contracts.subjects import COMMANDS_STREAM, INBOUND_STREAM
from infra.pipeline_metrics import CONSUMER_PENDING
from orchestrator.commands_consumer import commands_consumer_name
from orchestrator.inbound_durable import INBOUND_CONSUMER

log = structlog.get_logger("orchestrator")

INTERVAL_SECONDS = 5.0


class Watched(NamedTuple):
    stream: str
    consumer: str
    #: The gauge's ``partition`` label ("all" for the inbound consumer, which serves every partition).
    partition: str


def orchestrator_consumers(partitions: int) -> list[Watched]:
    """The inbound consumer and the timer commands' consumer of each partition."""
    commands = [Watched(COMMANDS_STREAM, commands_consumer_name(p), str(p)) for p in range(partitions)]
    return [Watched(INBOUND_STREAM, INBOUND_CONSUMER, "all"), *commands]


async def report_pending(
    js: JetStreamContext, consumers: Sequence[Watched], interval: float = INTERVAL_SECONDS
) -> None:
    """Until cancelled: ``conectapro_consumer_pending`` of each of ``consumers``."""
    while True:
        for watched in consumers:
            try:
                info = await js.consumer_info(watched.stream, watched.consumer)
            except (nats.errors.Error, TimeoutError, OSError) as error:
                log.debug("consumer_pending_unknown", consumer=watched.consumer, error=repr(error))
                continue
            CONSUMER_PENDING.labels(watched.stream, watched.partition).set(info.num_pending or 0)
        await asyncio.sleep(interval)
