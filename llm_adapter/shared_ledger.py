"""The cost ledger every adapter replica shares: a JetStream key-value bucket.

One key per day holds the tokens spent (``tokens.<day>``); one key per customer the times of their calls
in the last hour (``calls.<hash of the customer ref>``). Every change is a compare-and-set on the key's
revision, retried when another replica changed it first, so two replicas never both take a customer's
last call of the hour. Keys age out of the bucket two days after their last change.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from collections.abc import Awaitable, Callable

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from llm_adapter.cost_control import recent_calls

BUCKET = "llm_cost"
KEYS_LIVE_SECONDS = 2 * 24 * 3600.0
#: Compare-and-set rounds before giving up (each lost round means another replica wrote in between).
MAX_ROUNDS = 100


class KeyValueLedger:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv
        # Tokens to add, per day, and the one writer of this process: spends made while it writes go
        # together in its next write (fewer rounds on the one key every replica changes).
        self._unspent: Counter[str] = Counter()
        self._spending = asyncio.Lock()

    @classmethod
    async def open(cls, js: JetStreamContext, replicas: int = 1) -> KeyValueLedger:
        try:
            kv = await js.key_value(BUCKET)
        except BucketNotFoundError:
            config = KeyValueConfig(
                bucket=BUCKET, history=1, ttl=KEYS_LIVE_SECONDS, storage=StorageType.FILE, replicas=replicas
            )
            kv = await js.create_key_value(config)
        return cls(kv)

    async def tokens_spent(self, day: str) -> int:
        value, _ = await self._read(f"tokens.{day}")
        return int(value or b"0")

    async def spend_tokens(self, day: str, tokens: int) -> None:
        self._unspent[day] += tokens
        async with self._spending:
            amount = self._unspent.pop(day, 0)
            if amount:
                await self._change(f"tokens.{day}", lambda value: str(int(value or b"0") + amount).encode())

    async def take_call(self, customer: str, now: float, per_hour: int) -> bool:
        taken = False

        def with_call(value: bytes | None) -> bytes | None:
            nonlocal taken
            calls = recent_calls(json.loads(value) if value else [], now)
            taken = len(calls) < per_hour
            return json.dumps([*calls, now]).encode() if taken else None

        await self._change(f"calls.{_customer_key(customer)}", with_call)
        return taken

    async def _read(self, key: str) -> tuple[bytes | None, int]:
        """The value and its revision (0: no such key)."""
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:  # KeyDeletedError too
            return None, 0
        return entry.value, entry.revision or 0

    async def _change(self, key: str, change: Callable[[bytes | None], bytes | None]) -> None:
        """Apply ``change`` to the key's value atomically (None from it: nothing to write)."""
        for _ in range(MAX_ROUNDS):
            value, revision = await self._read(key)
            new = change(value)
            if new is None:
                return
            write: Awaitable[int] = self._kv.update(key, new, last=revision) if revision else self._kv.create(key, new)
            try:
                await write
                return
            except KeyWrongLastSequenceError:
                continue  # another replica wrote first: read again
        raise RuntimeError(f"cost ledger: {key.split('.')[0]} changed by others {MAX_ROUNDS} times in a row")


def _customer_key(customer: str) -> str:
    # Key names allow few characters; the ref is opaque already, its hash keeps it so.
    return hashlib.sha256(customer.encode()).hexdigest()[:32]
