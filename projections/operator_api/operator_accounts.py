"""Operator accounts, pure: an account folded from its stream, and the decisions that change one.

The I/O around it (reading and appending ``operator-<name>``, hashing) is in ``operator_account_store``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from contracts.events import Event
from contracts.operator_events import OperatorAdded, OperatorDisabled, OperatorPasswordSet, OperatorRole

#: What an operator of each role may do, from the least to the most.
_RANK = {OperatorRole.VIEWER: 0, OperatorRole.AGENT: 1, OperatorRole.ADMIN: 2}


class OperatorAccountError(ValueError):
    """An account change refused, with a reason an operator can read."""


@dataclass(frozen=True, slots=True)
class OperatorAccount:
    name: str
    role: OperatorRole
    password_hash: str | None
    active: bool
    #: The stream's version after the last event folded (the expected version of the next append).
    version: int

    def may(self, role: OperatorRole) -> bool:
        """Whether this account holds ``role`` or a higher one."""
        return self.active and _RANK[self.role] >= _RANK[role]


def operator_stream_id(name: str) -> str:
    return f"operator-{name}"


def evolve(account: OperatorAccount | None, event: Event) -> OperatorAccount | None:
    match event:
        case OperatorAdded(name=name, role=role):
            return OperatorAccount(name=name, role=role, password_hash=None, active=True, version=1)
        case OperatorPasswordSet(password_hash=password_hash) if account is not None:
            return replace(account, password_hash=password_hash, version=account.version + 1)
        case OperatorDisabled() if account is not None:
            return replace(account, active=False, version=account.version + 1)
    return account


def fold(events: Iterable[Event], account: OperatorAccount | None = None) -> OperatorAccount | None:
    """``account`` after ``events`` (from nothing by default)."""
    for event in events:
        account = evolve(account, event)
    return account


def decide_add(
    account: OperatorAccount | None, name: str, role: OperatorRole, password_hash: str, *, by: str, now: datetime
) -> list[Event]:
    if account is not None:
        raise OperatorAccountError(f"an operator named {name!r} already exists")
    return [
        OperatorAdded(name=name, role=role, by=by, added_at=now),
        OperatorPasswordSet(name=name, password_hash=password_hash, by=by, set_at=now),
    ]


def decide_password(account: OperatorAccount | None, password_hash: str, *, by: str, now: datetime) -> list[Event]:
    existing = _existing(account)
    return [OperatorPasswordSet(name=existing.name, password_hash=password_hash, by=by, set_at=now)]


def decide_disable(account: OperatorAccount | None, *, by: str, now: datetime) -> list[Event]:
    existing = _existing(account)
    if not existing.active:
        return []  # disabling twice changes nothing and records nothing
    if existing.name == by:
        raise OperatorAccountError("an operator cannot disable their own account")
    return [OperatorDisabled(name=existing.name, by=by, disabled_at=now)]


def _existing(account: OperatorAccount | None) -> OperatorAccount:
    if account is None:
        raise OperatorAccountError("no such operator")
    return account
