"""The durable, expiring record of what ingress already published.

JetStream's duplicate window is minutes long; Meta retries for up to 7 days. A JetStream key-value
bucket (file storage, TTL of ``DEDUPE_TTL_DAYS``) remembers each published dedupe key for that long.
Keys are hashed: wamids are base64 and may hold characters that KV keys do not allow.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable

import structlog
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

log = structlog.get_logger(__name__)


def kv_key(dedupe_key: str) -> str:
    return hashlib.blake2b(dedupe_key.encode(), digest_size=20).hexdigest()


class SeenIds:
    def __init__(self, bucket: KeyValue) -> None:
        self._bucket = bucket

    async def seen(self, dedupe_key: str) -> bool:
        try:
            await self._bucket.get(kv_key(dedupe_key))
        except KeyNotFoundError:
            return False
        return True

    async def seen_many(self, dedupe_keys: Iterable[str]) -> list[bool]:
        return list(await asyncio.gather(*(self.seen(key) for key in dedupe_keys)))

    async def remember(self, dedupe_keys: Iterable[str]) -> None:
        """Record keys whose publish JetStream acknowledged.

        Called only after the acknowledgement: recording first and crashing before the publish would
        make Meta's retry look like a duplicate and lose the message.
        """
        await asyncio.gather(*(self._bucket.put(kv_key(key), b"1") for key in dedupe_keys))
