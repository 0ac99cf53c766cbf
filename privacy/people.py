"""Who a phone number is: a random person key per person, found through a keyed lookup of the phone.

A new person gets a random key (``p`` + 20 hex digits) and a fresh data key, wrapped by the master key,
in one ``privacy_people`` row; the row is also the phone → person mapping (HMAC of the phone under a
key derived from the master key). Erasing the row forgets the person: nothing maps their phone to their
streams any more, and the sealed fields of those streams cannot be opened.

Stores written before this kept customers under ``c`` + an unkeyed hash of the phone. Such a customer
keeps that key (their stream is found and adopted on their next message, and sealed from then on); their
older events stay as they were written, in clear: the store is append-only.

Technicians are people too: a technician registered now is named by their person key (their stream is
``provider-<person key>``, sealed with their key). Technicians registered before keep their id, ``p`` + an
unkeyed hash of the phone (:func:`legacy_provider_id`): it stays a reversible hash, and their events, written
in clear, are still written so (their stream has no key of its own to seal with).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from privacy.keyring import Keyring
from privacy.master_key import MasterKey, normalise_phone

_FIND = "SELECT person_key, wrapped_key FROM privacy_people WHERE phone_lookup = $1"
_CREATE = """
INSERT INTO privacy_people (person_key, phone_lookup, wrapped_key) VALUES ($1, $2, $3)
ON CONFLICT (phone_lookup) DO NOTHING
RETURNING person_key
"""
_ERASE = "DELETE FROM privacy_people WHERE person_key = $1"
_KNOWN = "SELECT EXISTS (SELECT 1 FROM privacy_people WHERE person_key = $1)"
_LEGACY_LENGTH = 21
_PERSON_KEY = re.compile(r"[pc][0-9a-f]{20}")


def legacy_person_key(whatsapp_id: str) -> str:
    """How stores written before sealing named a customer: an unkeyed hash of the phone (reversible by
    trying every number; never used for new people)."""
    return "c" + hashlib.blake2b(whatsapp_id.encode(), digest_size=10).hexdigest()


def legacy_provider_id(whatsapp_id: str) -> str:
    """How stores written before technicians were people named a technician: an unkeyed hash of the phone
    (reversible by trying every number; never used for technicians registered now)."""
    return "p" + hashlib.blake2b(whatsapp_id.encode(), digest_size=6).hexdigest()


def is_legacy_person_key(person_key: str) -> bool:
    """A customer's key from before sealing: their events without a key stay in clear."""
    return len(person_key) == _LEGACY_LENGTH and person_key.startswith("c")


def is_unkeyed_technician(person_key: str) -> bool:
    """A technician id that is no person key (a legacy ``p`` + 12 hex id, or one an operator chose before
    technicians were people): their events without a key stay in clear, as they always were."""
    return _PERSON_KEY.fullmatch(person_key) is None


def new_person_key() -> str:
    return "p" + secrets.token_hex(10)


class People:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        master: MasterKey,
        keyring: Keyring,
        *,
        legacy_stream_exists: Callable[[str], Awaitable[bool]],
    ) -> None:
        self._pool = pool
        self._master = master
        self._keyring = keyring
        self._legacy_stream_exists = legacy_stream_exists

    async def find(self, phone: str) -> str | None:
        """The person key of this phone, if the system knows the person (and has not forgotten them)."""
        row = await self._pool.fetchrow(_FIND, self._master.phone_lookup(phone))
        if row is None:
            return None
        self._keyring.remember(row[0], bytes(row[1]))
        return str(row[0])

    async def known(self, person_key: str) -> bool:
        """Whether the system still holds this person's key (not forgotten)."""
        return bool(await self._pool.fetchval(_KNOWN, person_key))

    async def key_for(self, phone: str) -> str:
        """The person key of this phone, made now (with a new data key) for someone new."""
        found = await self.find(phone)
        if found is not None:
            return found
        legacy = legacy_person_key(normalise_phone(phone))
        person_key = legacy if await self._legacy_stream_exists(legacy) else new_person_key()
        wrapped = self._master.wrap(person_key, os.urandom(32))
        created = await self._pool.fetchval(_CREATE, person_key, self._master.phone_lookup(phone), wrapped)
        if created is None:  # another process made the person first
            found = await self.find(phone)
            assert found is not None
            return found
        self._keyring.remember(person_key, wrapped)
        return person_key

    async def erase(self, person_key: str, connection: Any | None = None) -> bool:
        """Forget the person's key and phone mapping (in ``connection``'s transaction when given)."""
        executor = connection if connection is not None else self._pool
        status = await executor.execute(_ERASE, person_key)
        self._keyring.drop(person_key)
        return bool(status != "DELETE 0")


class InMemoryPeople:
    """:class:`People` without a database or keys, for unit tests of code that maps phones to people."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}

    async def find(self, phone: str) -> str | None:
        return self.keys.get(normalise_phone(phone))

    async def key_for(self, phone: str) -> str:
        return self.key_of(phone)

    def key_of(self, phone: str) -> str:
        """:meth:`key_for` without waiting (nothing to wait for in memory)."""
        return self.keys.setdefault(normalise_phone(phone), new_person_key())

    def forget(self, phone: str) -> None:
        self.keys.pop(normalise_phone(phone), None)
