"""People's data keys, by person key: unwrapped from ``privacy_people`` and kept in the process a short while.

Without a master key the keyring holds no key (a reader that needs no personal value, e.g. an audit
run without ``PRIVACY_MASTER_KEY``, reads every sealed field as forgotten). A key erased by another
process stays usable here for at most ``ttl`` seconds (nothing written with it meanwhile is readable once
it is gone); an erasure in this process drops it at once, and so does a process that follows the store
when it reads the ``PersonForgotten`` event (the projections: :meth:`Keyring.drop_forgotten`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts.events import RecordedEvent
from contracts.privacy_events import ErasureOutcome, PersonForgotten
from privacy.master_key import MasterKey

DEFAULT_TTL_SECONDS = 30.0

_LOAD = "SELECT person_key, wrapped_key FROM privacy_people WHERE person_key = ANY($1::text[])"


class Keyring:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        master: MasterKey | None,
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._master = master
        self._ttl = ttl
        self._clock = clock
        # person key -> (the key, or None when the person has none: forgotten or never sealed; valid until)
        self._keys: dict[str, tuple[AESGCM | None, float]] = {}

    async def load(self, person_keys: Iterable[str]) -> None:
        """Make :meth:`key` answer for these people (one query for those not known or expired)."""
        if self._master is None:
            return  # keyless: every sealed field reads as forgotten
        now = self._clock()
        wanted = [key for key in set(person_keys) if self._keys.get(key, (None, 0.0))[1] <= now]
        if not wanted:
            return
        found = {row[0]: bytes(row[1]) for row in await self._pool.fetch(_LOAD, wanted)}
        for person_key in wanted:
            wrapped = found.get(person_key)
            self.remember(person_key, wrapped)

    def remember(self, person_key: str, wrapped: bytes | None) -> None:
        data_key = None if wrapped is None or self._master is None else AESGCM(self._master.unwrap(person_key, wrapped))
        self._keys[person_key] = (data_key, self._clock() + self._ttl)

    def key(self, person_key: str) -> AESGCM | None:
        """The person's data key, if they have one (after :meth:`load`); None once forgotten."""
        entry = self._keys.get(person_key)
        return None if entry is None else entry[0]

    def drop(self, person_key: str) -> None:
        """This process forgot the person: never use their key again."""
        self._keys[person_key] = (None, float("inf"))

    def drop_forgotten(self, events: Iterable[RecordedEvent]) -> None:
        """Drop the keys of the people these events say were forgotten (another process erased them): a
        process that follows the store stops opening their fields when it reads the erasure, not up to
        ``ttl`` later."""
        for event in events:
            if event.type == PersonForgotten.TYPE and event.data.get("outcome") == ErasureOutcome.FORGOTTEN:
                person_key = event.data.get("person_key")
                if isinstance(person_key, str):
                    self.drop(person_key)
