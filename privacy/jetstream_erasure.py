"""Erasure in JetStream: the raw webhooks of ``INBOUND`` (kept 14 days) and the parked messages of
``DEADLETTER`` hold phone numbers in clear; a forgotten person's messages there are deleted.

Every message of both streams is looked at (the phone may be in a payload under any subject): erasure is
rare and has 30 days; a stream of millions of messages takes minutes.
"""

from __future__ import annotations

from collections.abc import Sequence

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from contracts.subjects import DEADLETTER_STREAM, INBOUND_STREAM
from privacy.master_key import normalise_phone

STREAMS = (INBOUND_STREAM, DEADLETTER_STREAM)


async def delete_messages_of(js: JetStreamContext, phone: str, streams: Sequence[str] = STREAMS) -> int:
    """Delete every message of ``streams`` (``INBOUND`` and ``DEADLETTER``) whose body or headers hold
    ``phone``."""
    needle = normalise_phone(phone).encode()
    removed = 0
    for stream in streams:
        try:
            info = await js.stream_info(stream)
        except NotFoundError:
            continue
        for sequence in range(max(1, info.state.first_seq), info.state.last_seq + 1):
            try:
                message = await js.get_msg(stream, sequence)
            except NotFoundError:
                continue  # deleted before, or past retention
            headers = b"".join(f"{k}:{v}".encode() for k, v in (message.headers or {}).items())
            if needle in (message.data or b"") or needle in headers:
                await js.delete_msg(stream, sequence)
                removed += 1
    return removed
