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

import os
from typing import Any

import asyncpg

from eventstore import stream_exists_sql
from privacy.erasure_signal import ErasureSignal, announce
from privacy.keyring import Keyring
from privacy.master_key import MasterKey, normalise_phone
from privacy.person_keys import (
    is_legacy_person_key,
    is_unkeyed_technician,
    legacy_person_key,
    legacy_provider_id,
    new_person_key,
)

__all__ = [
    "InMemoryPeople",
    "People",
    "is_legacy_person_key",
    "is_unkeyed_technician",
    "legacy_person_key",
    "legacy_provider_id",
    "new_person_key",
]

_FIND = "SELECT person_key, wrapped_key FROM privacy_people WHERE phone_lookup = $1"
# Found, or made: adopting the key of a customer from before sealing whose stream exists ($2, its stream $3,
# $4 its wrapped data key), else the new random key ($5, $6). No row: another process made them meanwhile.
_FIND_OR_CREATE = f"""
WITH found AS (
    SELECT person_key, wrapped_key FROM privacy_people WHERE phone_lookup = $1
), made AS (
    INSERT INTO privacy_people (person_key, phone_lookup, wrapped_key)
    SELECT CASE WHEN adopt THEN $2::text ELSE $5::text END, $1, CASE WHEN adopt THEN $4::bytea ELSE $6::bytea END
    FROM (SELECT {stream_exists_sql("$3")} AS adopt) AS legacy
    WHERE NOT EXISTS (SELECT 1 FROM found)
    ON CONFLICT (phone_lookup) DO NOTHING
    RETURNING person_key, wrapped_key
)
SELECT person_key, wrapped_key FROM found
UNION ALL
SELECT person_key, wrapped_key FROM made
"""
_ERASE = "DELETE FROM privacy_people WHERE person_key = $1"
_KNOWN = "SELECT EXISTS (SELECT 1 FROM privacy_people WHERE person_key = $1)"
DEFAULT_MAX_SIZE = 100_000


class People:
    """Phones → person keys, kept in the process while it hears erasures (``privacy.erasure_signal``): a known
    person's next message costs no query. Erasure, anywhere, drops the person here when its notification
    arrives; a phone nobody holds is not kept (its person may be made by another process any moment)."""

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        master: MasterKey,
        keyring: Keyring,
        *,
        signal: ErasureSignal | None = None,
        max_size: int = DEFAULT_MAX_SIZE,
    ) -> None:
        self._pool = pool
        self._master = master
        self._keyring = keyring
        self._signal = signal or ErasureSignal()  # never live: every lookup asks the database
        self._max_size = max_size
        # phone lookup -> person key, oldest first; and back, to drop a person by key
        self._keys: dict[bytes, str] = {}
        self._phones: dict[str, bytes] = {}
        self._signal.on_forgotten(self._forget)

    async def find(self, phone: str) -> str | None:
        """The person key of this phone, if the system knows the person (and has not forgotten them)."""
        lookup = self._master.phone_lookup(phone)
        kept = self._kept(lookup)
        if kept is not None:
            return kept
        mark = self._signal.mark()
        row = await self._pool.fetchrow(_FIND, lookup)
        if row is None:
            return None
        person_key = str(row[0])
        self._keyring.remember(person_key, bytes(row[1]), mark=mark)
        self._keep(lookup, person_key, mark)
        return person_key

    async def known(self, person_key: str) -> bool:
        """Whether the system still holds this person's key (not forgotten)."""
        return bool(await self._pool.fetchval(_KNOWN, person_key))

    async def key_for(self, phone: str) -> str:
        """The person key of this phone, made now (with a new data key) for someone new; one statement."""
        lookup = self._master.phone_lookup(phone)
        kept = self._kept(lookup)
        if kept is not None:
            return kept
        mark = self._signal.mark()
        legacy, new = legacy_person_key(normalise_phone(phone)), new_person_key()
        data_key = os.urandom(32)  # wrapped for both candidates: the key is its associated data
        row = await self._pool.fetchrow(
            _FIND_OR_CREATE, lookup, legacy, f"customer-{legacy}", self._master.wrap(legacy, data_key),
            new, self._master.wrap(new, data_key),
        )  # fmt: skip
        if row is None:  # another process made the person after this statement's snapshot
            found = await self.find(phone)
            assert found is not None
            return found
        person_key = str(row[0])
        self._keyring.remember(person_key, bytes(row[1]), mark=mark)
        self._keep(lookup, person_key, mark)
        return person_key

    async def erase(self, person_key: str, connection: Any | None = None) -> bool:
        """Forget the person's key and phone mapping, in ``connection``'s transaction when given; every
        process listening hears it when that transaction commits."""
        if connection is None:
            async with self._pool.acquire() as own, own.transaction():
                return await self.erase(person_key, own)
        status = await connection.execute(_ERASE, person_key)
        await announce(connection, person_key)
        self._keyring.drop(person_key)
        self._forget(person_key)
        return bool(status != "DELETE 0")

    def _kept(self, lookup: bytes) -> str | None:
        return self._keys.get(lookup) if self._signal.live else None

    def _keep(self, lookup: bytes, person_key: str, mark: int) -> None:
        if not self._signal.still(mark):
            return
        if self._keys.pop(lookup, None) is None and len(self._keys) >= self._max_size:
            oldest = next(iter(self._keys))
            self._phones.pop(self._keys.pop(oldest), None)
        self._keys[lookup] = person_key
        self._phones[person_key] = lookup

    def _forget(self, person_key: str | None) -> None:
        if person_key is None:
            self._keys.clear()
            self._phones.clear()
            return
        lookup = self._phones.pop(person_key, None)
        if lookup is not None:
            self._keys.pop(lookup, None)


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
