"""Opaque keys for WhatsApp users: stream ids never carry a phone number, nor anything a public function
derives from one (``privacy.people`` maps a phone to a random person key through a keyed lookup)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Protocol


class People(Protocol):
    """Phone number → person key (``privacy.people.People``; ``InMemoryPeople`` in unit tests)."""

    async def key_for(self, phone: str) -> str:
        """The person's key, made now for someone new."""
        ...

    async def find(self, phone: str) -> str | None:
        """The person's key, if the system knows (and has not forgotten) them."""
        ...


class RecentPeople:
    """Person keys looked up within the last ``ttl`` seconds, for delivery statuses: three come for every
    reply, and each would otherwise be a query (and the unwrapping of a data key).

    As long as the keyring keeps a data key (``privacy.keyring``): after a forget in another process, the
    statuses of messages sent before it may still land on the forgotten person's deliveries stream for
    that long (they hold no personal data)."""

    def __init__(
        self, people: People, *, ttl: float = 30.0, max_size: int = 50_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._people = people
        self._ttl = ttl
        self._max_size = max_size
        self._clock = clock
        self._keys: dict[str, tuple[str, float]] = {}
        #: Phones looked up afresh every time (:meth:`leaving`), oldest first.
        self._leaving: dict[str, None] = {}

    def leaving(self, phone: str) -> None:
        """The person may be forgotten at any moment (they are answering the erasure question, or said yes):
        from now on their statuses ask the people table, so that one arriving after the erasure finds nobody
        (and its raw webhook is deleted) instead of a key kept here."""
        self._keys.pop(phone, None)
        self._leaving.pop(phone, None)
        if len(self._leaving) >= self._max_size:
            del self._leaving[next(iter(self._leaving))]
        self._leaving[phone] = None

    def remember(self, phone: str, key: str) -> None:
        """A key looked up by someone else (the customer's message before its statuses)."""
        if phone in self._leaving:
            return
        self._keys.pop(phone, None)
        if len(self._keys) >= self._max_size:
            del self._keys[next(iter(self._keys))]  # the oldest looked up
        self._keys[phone] = (key, self._clock() + self._ttl)

    async def key_for(self, phone: str) -> str:
        key = await self._cached(phone, self._people.key_for)
        assert key is not None  # made now for someone new
        return key

    async def find(self, phone: str) -> str | None:
        """The key of a person the system knows (a miss is not kept: the next status asks again)."""
        return await self._cached(phone, self._people.find)

    async def _cached(self, phone: str, lookup: Callable[[str], Awaitable[str | None]]) -> str | None:
        if phone in self._leaving:
            return await lookup(phone)
        now = self._clock()
        known = self._keys.get(phone)
        if known is not None and known[1] > now:
            return known[0]
        key = await lookup(phone)
        if key is None:
            return None
        self.remember(phone, key)
        return key


def deliveries_stream_id(person_key: str) -> str:
    """Delivery statuses of everything we sent to one person, in the order Meta reported them."""
    return f"deliveries-{person_key}"


def account_stream_id(phone_number_id: str | None) -> str:
    """Problems Meta reports about our business number (``value.errors``), not tied to a message."""
    return f"whatsapp-account-{phone_number_id or 'unknown'}"
