"""Seals the personal fields of events with their person's key, at the event store's boundary.

Stored form of an event with personal fields (``contracts.personal.PERSONAL_FIELDS``): each non-null
personal value replaced by :data:`SUPPRESSED`, and ``"$sealed"`` holding them all, encrypted together
(AES-256-GCM, a random 96-bit nonce, the stream id and event type as associated data: a sealed value
moved to another stream or event type fails authentication). So the stored row is already what a
forgotten person's event reads as; opening with the key puts the values back. Null values stay null.

Streams of nobody (operators, the account) and events without personal fields pass untouched. A person
without a key is either forgotten (new-style keys: their fields are written suppressed, never in clear)
or a customer or technician of a store written before sealing (``c…`` keys; technician ids that are no
person key, see ``privacy.people``): their events were stored in clear and are read and written as they
were until they get a key.
"""

from __future__ import annotations

import os
from binascii import a2b_base64, b2a_base64
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Final

import orjson

from contracts.personal import PERSONAL_FIELDS, SUPPRESSED, person_of_stream
from privacy.keyring import Keyring, KeysAlong
from privacy.people import is_legacy_person_key, is_unkeyed_technician

SEALED: Final = "$sealed"
_NONCE_BYTES = 12
_SEALED_TEXT: Final = f'"{SEALED}"'
#: The person of a stream, remembered for the streams read and written lately.
_person_of: Final = lru_cache(maxsize=4096)(person_of_stream)
#: Each event type's personal paths, split once.
_PATHS: Final = {kind: tuple(tuple(path.split(".")) for path in paths) for kind, paths in PERSONAL_FIELDS.items()}


def _technicians(stream_id: str) -> bool:
    return stream_id.startswith(("provider-", "outbound-provider-"))


def _associated(stream_id: str, event_type: str) -> bytes:
    return f"{stream_id}\x1f{event_type}".encode()


class PrivacyCodec:
    """The :class:`eventstore.codec.EventCodec` that seals personal fields (see the module's docstring)."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    async def prepare(self, stream_ids: Iterable[str]) -> None:
        people = {person for person in map(person_of_stream, stream_ids) if person is not None}
        if people:
            await self.keyring.load(people)

    def along(self, stream_ids: Iterable[str]) -> KeysAlong | None:
        return self.keyring.along({person for person in map(_person_of, stream_ids) if person is not None})

    def is_sealed(self, data: dict[str, Any]) -> bool:
        return SEALED in data

    def is_sealed_text(self, data: str) -> bool:
        return _SEALED_TEXT in data

    def seal(self, stream_id: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        paths = _PATHS.get(event_type)
        if paths is None:
            return data
        person = _person_of(stream_id)
        if person is None:
            return data
        values = [_value(data, path) for path in paths]
        if all(value is None for value in values):
            return data
        key = self.keyring.key(person)
        unkeyed = is_legacy_person_key(person) or (_technicians(stream_id) and is_unkeyed_technician(person))
        if key is None and unkeyed:
            return data
        sealed = _with_values(data, paths, [None if value is None else SUPPRESSED for value in values])
        if key is not None:
            nonce = os.urandom(_NONCE_BYTES)
            secret = key.encrypt(nonce, orjson.dumps(values), _associated(stream_id, event_type))
            sealed[SEALED] = b2a_base64(nonce + secret, newline=False).decode()
        return sealed

    def open(self, stream_id: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        blob = data.pop(SEALED, None)  # the reader's own data (freshly decoded): opened in place
        if blob is None:
            return data
        person = _person_of(stream_id)
        key = None if person is None else self.keyring.key(person)
        if key is None:
            return data  # forgotten: the stored values are already the suppressed ones
        raw = a2b_base64(blob)
        values = orjson.loads(key.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated(stream_id, event_type)))
        return _with_values(data, _PATHS[event_type], values, own=True)


def _value(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for name in path:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def _with_values(
    data: dict[str, Any], paths: tuple[tuple[str, ...], ...], values: list[Any], *, own: bool = False
) -> dict[str, Any]:
    """``data`` with each non-null value set at its path, as ``contracts.personal.with_personal_value`` would
    give path by path: the dicts along the paths copied once (``own``: the top one is the caller's to change)."""
    copy = data if own else dict(data)
    copied: dict[tuple[str, ...], dict[str, Any]] = {}
    for path, value in zip(paths, values, strict=True):
        if value is None:
            continue
        parent = copy
        for depth in range(1, len(path)):
            prefix = path[:depth]
            nested = copied.get(prefix)
            if nested is None:
                nested = copied[prefix] = dict(parent[path[depth - 1]])
                parent[path[depth - 1]] = nested
            parent = nested
        parent[path[-1]] = value
    return copy
