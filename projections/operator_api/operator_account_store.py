"""Operator accounts on the event store: read an account, change one, check a password.

Passwords are hashed with argon2id (``argon2-cffi``'s defaults, which follow RFC 9106's recommendation);
only the hash is ever stored. A hash made with older parameters is replaced at the next good login.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from contracts.events import Event, EventMetadata, NewEvent
from contracts.operator_events import OPERATOR_NAME_PATTERN, OperatorRole
from eventstore import EventStore
from projections.operator_api import operator_accounts as accounts
from projections.operator_api.operator_accounts import OperatorAccount, OperatorAccountError

MIN_PASSWORD_LENGTH = 12
_hasher = PasswordHasher()
# Verified when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def generate_password() -> str:
    """A one-time password to hand to a new operator (about 128 bits)."""
    return secrets.token_urlsafe(16)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OperatorAccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


class OperatorAccountStore:
    def __init__(self, store: EventStore, *, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    async def get(self, name: str) -> OperatorAccount | None:
        recorded = await self._store.read_stream(accounts.operator_stream_id(name))
        return accounts.fold(event.to_event() for event in recorded)

    async def add(self, name: str, role: OperatorRole, password: str, *, by: str) -> OperatorAccount:
        account = await self.get(name)
        events = accounts.decide_add(account, name, role, hash_password(password), by=by, now=self._clock())
        return await self._append(name, 0, events, account)

    async def set_password(self, name: str, password: str, *, by: str) -> OperatorAccount:
        account = await self.get(name)
        events = accounts.decide_password(account, hash_password(password), by=by, now=self._clock())
        return await self._append(name, _version(account), events, account)

    async def disable(self, name: str, *, by: str) -> OperatorAccount:
        account = await self.get(name)
        events = accounts.decide_disable(account, by=by, now=self._clock())
        return await self._append(name, _version(account), events, account)

    async def authenticate(self, name: str, password: str) -> OperatorAccount | None:
        """The account when ``password`` is right and the account active; None otherwise (never says which)."""
        account = await self.get(name) if _plausible_name(name) else None
        stored = account.password_hash if account is not None and account.password_hash else _DUMMY_HASH
        try:
            _hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if account is None or not account.active:
            return None
        if _hasher.check_needs_rehash(stored):
            account = await self.set_password(name, password, by=name)
        return account

    async def _append(
        self, name: str, expected_version: int, events: Sequence[Event], account: OperatorAccount | None
    ) -> OperatorAccount:
        if not events:
            assert account is not None
            return account
        now = self._clock()
        cause = f"operator-action-{uuid.uuid4()}"
        metadata = EventMetadata(correlation_id=cause, causation_id=cause, recorded_at=now)
        new_events = [NewEvent.from_event(event, event_id=uuid.uuid4(), metadata=metadata) for event in events]
        # A concurrent change to the same account surfaces as ConcurrencyError: the caller retries or says so.
        await self._store.append(accounts.operator_stream_id(name), expected_version, new_events)
        folded = accounts.fold(events, account)
        assert folded is not None
        return folded


def _version(account: OperatorAccount | None) -> int:
    return account.version if account is not None else 0


def _plausible_name(name: str) -> bool:
    return re.fullmatch(OPERATOR_NAME_PATTERN, name) is not None
