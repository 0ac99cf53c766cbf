"""People's data keys, by person key: unwrapped from ``privacy_people`` and kept in the process while it hears
erasures (``privacy.erasure_signal``).

Without a master key the keyring holds no key (a reader that needs no personal value, e.g. an audit
run without ``PRIVACY_MASTER_KEY``, reads every sealed field as forgotten). A key is kept from one
:meth:`Keyring.load` to the next only while the process listens for erasures: an erasure anywhere drops it
here when its notification arrives, and one in this process at once (:meth:`Keyring.drop`). A process
that does not listen (a one-shot command, a test's store) asks the database at every load;
its reads of people's streams fetch the keys in their own statement (:class:`KeysAlong`): one round trip.
A process that follows the store also drops a key when it reads the ``PersonForgotten`` event
(:meth:`Keyring.drop_forgotten`).

"Nobody holds this key" is kept only for new-style person keys (forgotten for good): a customer from
before sealing (``c…`` key) gets a key at their next message, in whichever process handles it.
"""

from __future__ import annotations

from base64 import b64decode
from collections.abc import Iterable
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts.events import RecordedEvent
from contracts.privacy_events import ErasureOutcome, PersonForgotten
from privacy.erasure_signal import ErasureSignal
from privacy.master_key import MasterKey
from privacy.person_keys import is_legacy_person_key

DEFAULT_MAX_SIZE = 100_000

_LOAD = "SELECT person_key, wrapped_key FROM privacy_people WHERE person_key = ANY($1::text[])"
#: :data:`_LOAD` as one value (person key -> base64 of the wrapped key; NULL when none), for a read to fetch
#: along with its events (``{}``: where its parameter, the person keys, goes).
LOAD_ALONG = (
    "(SELECT jsonb_object_agg(person_key, encode(wrapped_key, 'base64')) FROM privacy_people"
    " WHERE person_key = ANY({}::text[]))"
)


class Keyring:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        master: MasterKey | None,
        signal: ErasureSignal | None = None,
        *,
        max_size: int = DEFAULT_MAX_SIZE,
    ) -> None:
        self._pool = pool
        self._master = master
        self._signal = signal or ErasureSignal()  # never live: nothing kept between loads
        self._max_size = max_size
        # person key -> (the key, or None when the person has none: forgotten or never sealed; kept for
        # later loads). Oldest first: the oldest goes when full.
        self._keys: dict[str, tuple[AESGCM | None, bool]] = {}
        self._signal.on_forgotten(self._forget)

    async def load(self, person_keys: Iterable[str]) -> None:
        """Make :meth:`key` answer for these people (one query for those not kept)."""
        wanted = self.wanted(person_keys)
        if not wanted:
            return
        mark = self._signal.mark()
        self.loaded(wanted, {row[0]: bytes(row[1]) for row in await self._pool.fetch(_LOAD, wanted)}, mark)

    def along(self, person_keys: Iterable[str]) -> KeysAlong | None:
        """:meth:`load` as a value a read fetches with its events, in its own statement (None: nothing to ask)."""
        wanted = self.wanted(person_keys)
        return KeysAlong(self, wanted, self._signal.mark()) if wanted else None

    def wanted(self, person_keys: Iterable[str]) -> list[str]:
        """Those of these people :meth:`load` would ask the table for (none without a master key: every
        sealed field reads as forgotten)."""
        if self._master is None:
            return []
        return [key for key in set(person_keys) if not self._keys.get(key, (None, False))[1]]

    def loaded(self, wanted: Iterable[str], found: dict[str, bytes], mark: int) -> None:
        """What the table held of the ``wanted`` people (:meth:`wanted`), read after ``mark``
        (:meth:`ErasureSignal.mark`): :meth:`load` without its query, for a read that fetched the keys itself."""
        keep = self._signal.still(mark)
        for person_key in wanted:
            self._remember(person_key, found.get(person_key), keep=keep)

    def remember(self, person_key: str, wrapped: bytes | None, *, mark: int | None = None) -> None:
        """A key someone else read from the table (``privacy.people``) after ``mark`` (:meth:`ErasureSignal.mark`;
        None: for this operation only)."""
        self._remember(person_key, wrapped, keep=mark is not None and self._signal.still(mark))

    def _remember(self, person_key: str, wrapped: bytes | None, *, keep: bool) -> None:
        data_key = None if wrapped is None or self._master is None else AESGCM(self._master.unwrap(person_key, wrapped))
        if data_key is None and is_legacy_person_key(person_key):
            keep = False  # may get a key in another process any moment
        if self._keys.pop(person_key, None) is None and len(self._keys) >= self._max_size:
            del self._keys[next(iter(self._keys))]
        self._keys[person_key] = (data_key, keep)

    def key(self, person_key: str) -> AESGCM | None:
        """The person's data key, if they have one (after :meth:`load`); None once forgotten."""
        entry = self._keys.get(person_key)
        return None if entry is None else entry[0]

    def drop(self, person_key: str) -> None:
        """This process forgot the person: never use their key again."""
        self._keys.pop(person_key, None)
        self._keys[person_key] = (None, True)

    def _forget(self, person_key: str | None) -> None:
        if person_key is None:
            self._keys.clear()
        elif person_key in self._keys:
            self.drop(person_key)

    def drop_forgotten(self, events: Iterable[RecordedEvent]) -> None:
        """Drop the keys of the people these events say were forgotten (another process erased them)."""
        for event in events:
            if event.type == PersonForgotten.TYPE and event.data.get("outcome") == ErasureOutcome.FORGOTTEN:
                person_key = event.data.get("person_key")
                if isinstance(person_key, str):
                    self.drop(person_key)


class KeysAlong:
    """The keys of some people, read by a read of their streams along with the events (one round trip;
    ``eventstore.codec.Along``): the keys stand only as that read's snapshot saw them, as :meth:`Keyring.load`'s."""

    sql = LOAD_ALONG

    def __init__(self, keyring: Keyring, wanted: list[str], mark: int) -> None:
        self._keyring = keyring
        self._wanted = wanted
        self._mark = mark
        self.arg = wanted

    def take(self, value: dict[str, str] | None) -> None:
        found = {person_key: b64decode(wrapped) for person_key, wrapped in (value or {}).items()}
        self._keyring.loaded(self._wanted, found, self._mark)
