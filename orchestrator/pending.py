"""How many messages wait for each partition's consumer, read from JetStream every few seconds into a gauge."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import nats.errors
import structlog
from nats.js import JetStreamContext

from infra.pipeline_metrics import CONSUMER_PENDING
from orchestrator.consumer import OrderedStream

log = structlog.get_logger("orchestrator")

INTERVAL_SECONDS = 5.0


async def report_pending(
    js: JetStreamContext, specs: Sequence[OrderedStream[Any]], partitions: int, interval: float = INTERVAL_SECONDS
) -> None:
    """Until cancelled: ``conectapro_consumer_pending`` of every partition's consumer of ``specs``."""
    while True:
        for spec in specs:
            for partition in range(partitions):
                try:
                    info = await js.consumer_info(spec.stream, spec.consumer_name(partition))
                except (nats.errors.Error, TimeoutError, OSError) as error:
                    log.debug("consumer_pending_unknown", stream=spec.stream, partition=partition, error=repr(error))
                    continue
                CONSUMER_PENDING.labels(spec.stream, str(partition)).set(info.num_pending or 0)
        await asyncio.sleep(interval)
