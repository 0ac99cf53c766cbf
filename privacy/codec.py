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

import base64
import os
from collections.abc import Iterable
from typing import Any, Final

import orjson

from contracts.personal import PERSONAL_FIELDS, person_of_stream, personal_value, suppressed, with_personal_value
from privacy.keyring import Keyring
from privacy.people import is_legacy_person_key, is_unkeyed_technician

SEALED: Final = "$sealed"
_NONCE_BYTES = 12
_SEALED_TEXT: Final = f'"{SEALED}"'


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

    def is_sealed(self, data: dict[str, Any]) -> bool:
        return SEALED in data

    def is_sealed_text(self, data: str) -> bool:
        return _SEALED_TEXT in data

    def seal(self, stream_id: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        paths = PERSONAL_FIELDS.get(event_type)
        if paths is None:
            return data
        person = person_of_stream(stream_id)
        if person is None:
            return data
        values = [personal_value(data, path) for path in paths]
        if all(value is None for value in values):
            return data
        key = self.keyring.key(person)
        unkeyed = is_legacy_person_key(person) or (_technicians(stream_id) and is_unkeyed_technician(person))
        if key is None and unkeyed:
            return data
        sealed = suppressed(event_type, data)
        if key is not None:
            nonce = os.urandom(_NONCE_BYTES)
            secret = key.encrypt(nonce, orjson.dumps(values), _associated(stream_id, event_type))
            sealed = {**sealed, SEALED: base64.b64encode(nonce + secret).decode()}
        return sealed

    def open(self, stream_id: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        blob = data.pop(SEALED, None)
        if blob is None:
            return data
        person = person_of_stream(stream_id)
        key = None if person is None else self.keyring.key(person)
        if key is None:
            return data  # forgotten: the stored values are already the suppressed ones
        raw = base64.b64decode(blob)
        values = orjson.loads(key.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated(stream_id, event_type)))
        opened = data
        for path, value in zip(PERSONAL_FIELDS[event_type], values, strict=True):
            if value is not None:
                opened = with_personal_value(opened, path, value)
        return opened
