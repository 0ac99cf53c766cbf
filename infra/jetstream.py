"""The JetStream topology every service relies on, declared in one place and created idempotently."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import nats
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from contracts.subjects import (
    COMMANDS_STREAM,
    COMMANDS_SUBJECTS,
    DEADLETTER_STREAM,
    DEADLETTER_SUBJECTS,
    INBOUND_STREAM,
    INBOUND_SUBJECTS,
)
from infra.settings import nats_servers

log = structlog.get_logger(__name__)

DAY = 24 * 3600.0

#: Meta retries an unacknowledged delivery for up to 7 days.
META_RETRY_DAYS = 7


def inbound_stream_config(retention_days: int = 14) -> StreamConfig:
    return StreamConfig(
        name=INBOUND_STREAM,
        description="Inbound WhatsApp messages, statuses and errors, partitioned by sender",
        subjects=[INBOUND_SUBJECTS],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        # The stream is also the durable record of published ids (each update's subject ends with a token
        # of its dedupe key): it must outlive Meta's retries, and lets an operator inspect what arrived.
        max_age=max(retention_days, META_RETRY_DAYS + 1) * DAY,
        # Catches concurrent and quick retries without a lookup; the record covers the days after.
        duplicate_window=10 * 60.0,
        max_msg_size=8 * 1024 * 1024,
    )


DEADLETTER_STREAM_CONFIG = StreamConfig(
    name=DEADLETTER_STREAM,
    description="Payloads and messages no code could handle, with the reason: parked, never dropped",
    subjects=[DEADLETTER_SUBJECTS],
    retention=RetentionPolicy.LIMITS,
    storage=StorageType.FILE,
    # No max_age: a dead letter waits for a person.
    max_msg_size=8 * 1024 * 1024,
)


COMMANDS_STREAM_CONFIG = StreamConfig(
    name=COMMANDS_STREAM,
    description="Commands for the orchestrator (closer timers), partitioned by customer",
    subjects=[COMMANDS_SUBJECTS],
    retention=RetentionPolicy.LIMITS,
    storage=StorageType.FILE,
    discard=DiscardPolicy.OLD,
    max_age=7 * DAY,
    # A command id is published again only after a crash between publishing and recording it; the
    # orchestrator's inbox (inbox_id = command id) covers anything older than this window.
    duplicate_window=60 * 60.0,
    max_msg_size=1024 * 1024,
)


def topology(*, inbound_retention_days: int = 14, replicas: int = 1) -> list[StreamConfig]:
    """Every stream the services create, each kept on ``replicas`` servers of a JetStream cluster."""
    configs = [inbound_stream_config(inbound_retention_days), DEADLETTER_STREAM_CONFIG, COMMANDS_STREAM_CONFIG]
    return [dataclasses.replace(config, num_replicas=replicas) for config in configs]


async def connect(url: str | Sequence[str], name: str) -> NATS:
    """Reconnect forever: a NATS restart must not take a service down, only make it answer 503 meanwhile.

    ``url`` names one server or several (a list, or comma-separated as in ``NATS_URL``): the client picks
    one and moves to another of them, or to any the cluster announces, when it goes away.
    """

    async def on_disconnect() -> None:
        log.warning("nats_disconnected", client=name)

    async def on_reconnect() -> None:
        log.info("nats_reconnected", client=name)

    async def on_error(error: Exception) -> None:
        log.warning("nats_error", client=name, error=repr(error))

    return await nats.connect(
        nats_servers(url) if isinstance(url, str) else list(url),
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        error_cb=on_error,
    )


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    try:
        await js.add_stream(config)
    except BadRequestError:
        # Exists with other settings (an older release): bring it to the declared ones.
        await js.update_stream(config)


async def ensure_topology(js: JetStreamContext, *, inbound_retention_days: int = 14, replicas: int = 1) -> None:
    for config in topology(inbound_retention_days=inbound_retention_days, replicas=replicas):
        await ensure_stream(js, config)
