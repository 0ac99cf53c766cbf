"""The JetStream topology every service relies on, declared in one place and created idempotently."""

from __future__ import annotations

import nats
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, KeyValueConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError
from nats.js.kv import KeyValue

from contracts.subjects import (
    COMMANDS_STREAM,
    COMMANDS_SUBJECTS,
    DEADLETTER_STREAM,
    DEADLETTER_SUBJECTS,
    DEDUPE_BUCKET,
    INBOUND_STREAM,
    INBOUND_SUBJECTS,
)

log = structlog.get_logger(__name__)

DAY = 24 * 3600.0

INBOUND_STREAM_CONFIG = StreamConfig(
    name=INBOUND_STREAM,
    description="Inbound WhatsApp messages, statuses and errors, partitioned by sender",
    subjects=[INBOUND_SUBJECTS],
    retention=RetentionPolicy.LIMITS,
    storage=StorageType.FILE,
    discard=DiscardPolicy.OLD,
    # Kept longer than Meta's 7 days of retries, so an operator can still inspect what arrived.
    max_age=14 * DAY,
    # Covers concurrent and quick retries; the durable seen-ids bucket covers the 7 days.
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


def dedupe_bucket_config(ttl_days: int) -> KeyValueConfig:
    return KeyValueConfig(
        bucket=DEDUPE_BUCKET,
        description="Dedupe keys already published by ingress (hashed), expiring after Meta's retry period",
        ttl=ttl_days * DAY,
        storage=StorageType.FILE,
        history=1,
    )


async def connect(url: str, name: str) -> NATS:
    """Reconnect forever: a NATS restart must not take a service down, only make it answer 503 meanwhile."""

    async def on_disconnect() -> None:
        log.warning("nats_disconnected", client=name)

    async def on_reconnect() -> None:
        log.info("nats_reconnected", client=name)

    async def on_error(error: Exception) -> None:
        log.warning("nats_error", client=name, error=repr(error))

    return await nats.connect(
        url,
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


async def ensure_topology(js: JetStreamContext, *, dedupe_ttl_days: int = 8) -> KeyValue:
    await ensure_stream(js, INBOUND_STREAM_CONFIG)
    await ensure_stream(js, DEADLETTER_STREAM_CONFIG)
    await ensure_stream(js, COMMANDS_STREAM_CONFIG)
    return await js.create_key_value(dedupe_bucket_config(dedupe_ttl_days))
