"""Operator accounts, pure: folding a stream, the decisions, roles; the login limiter and console sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.operator_events import OperatorAdded, OperatorDisabled, OperatorPasswordSet, OperatorRole
from projections.operator_api import operator_accounts as accounts
from projections.operator_api.console.login_limiter import LoginLimiter
from projections.operator_api.console.sessions import ConsoleSessions
from projections.operator_api.operator_accounts import OperatorAccountError

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"


def added(role: OperatorRole = OperatorRole.AGENT) -> accounts.OperatorAccount:
    account = accounts.fold(accounts.decide_add(None, "ana", role, HASH, by="cli", now=NOW))
    assert account is not None
    return account


def test_adding_an_operator_records_the_role_and_the_password_hash_and_who_did_it() -> None:
    events = accounts.decide_add(None, "ana", OperatorRole.ADMIN, HASH, by="cli", now=NOW)
    assert events == [
        OperatorAdded(name="ana", role=OperatorRole.ADMIN, by="cli", added_at=NOW),
        OperatorPasswordSet(name="ana", password_hash=HASH, by="cli", set_at=NOW),
    ]
    account = accounts.fold(events)
    assert account == accounts.OperatorAccount("ana", OperatorRole.ADMIN, HASH, active=True, version=2)


def test_an_existing_name_cannot_be_added_again() -> None:
    with pytest.raises(OperatorAccountError, match="already exists"):
        accounts.decide_add(added(), "ana", OperatorRole.VIEWER, HASH, by="cli", now=NOW)


def test_disabling_twice_records_nothing_the_second_time_and_nobody_disables_themselves() -> None:
    account = added()
    [disabled] = accounts.decide_disable(account, by="boss", now=NOW)
    assert isinstance(disabled, OperatorDisabled)
    after = accounts.fold([disabled], account)
    assert after is not None and not after.active and after.version == account.version + 1
    assert accounts.decide_disable(after, by="boss", now=NOW) == []
    with pytest.raises(OperatorAccountError, match="own account"):
        accounts.decide_disable(account, by="ana", now=NOW)


def test_changes_to_an_unknown_operator_are_refused() -> None:
    with pytest.raises(OperatorAccountError, match="no such operator"):
        accounts.decide_password(None, HASH, by="cli", now=NOW)
    with pytest.raises(OperatorAccountError, match="no such operator"):
        accounts.decide_disable(None, by="cli", now=NOW)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (OperatorRole.VIEWER, {OperatorRole.VIEWER}),
        (OperatorRole.AGENT, {OperatorRole.VIEWER, OperatorRole.AGENT}),
        (OperatorRole.ADMIN, set(OperatorRole)),
    ],
)
def test_each_role_may_do_what_the_roles_below_it_may(role: OperatorRole, allowed: set[OperatorRole]) -> None:
    account = added(role)
    assert {r for r in OperatorRole if account.may(r)} == allowed


def test_a_disabled_operator_may_do_nothing() -> None:
    account = accounts.fold(accounts.decide_disable(added(OperatorRole.ADMIN), by="boss", now=NOW), added())
    assert account is not None and not any(account.may(r) for r in OperatorRole)


def test_the_limiter_blocks_after_five_failures_in_the_window_and_forgets_them_after_it() -> None:
    limiter = LoginLimiter(max_failures=5, window=timedelta(minutes=15))
    keys = ["name:ana", "addr:10.0.0.1"]
    for minute in range(5):
        assert limiter.retry_after(keys, NOW + timedelta(minutes=minute)) is None
        limiter.failed(keys, NOW + timedelta(minutes=minute))
    assert limiter.retry_after(keys, NOW + timedelta(minutes=5)) == timedelta(minutes=10)
    assert limiter.retry_after(["addr:10.0.0.1"], NOW + timedelta(minutes=5)) is not None  # the address too
    assert limiter.retry_after(keys, NOW + timedelta(minutes=15, seconds=1)) is None


def test_a_successful_login_clears_the_failures() -> None:
    limiter = LoginLimiter(max_failures=2)
    limiter.failed(["name:ana"], NOW)
    limiter.succeeded(["name:ana"])
    limiter.failed(["name:ana"], NOW)
    assert limiter.retry_after(["name:ana"], NOW) is None


def test_a_session_cookie_reads_back_only_under_the_same_token_and_binds_its_csrf_token() -> None:
    sessions = ConsoleSessions("token-one-0123456789", max_age=timedelta(hours=8))
    cookie = sessions.issue("ana")
    session = sessions.read(cookie)
    assert session is not None and session.operator == "ana"
    assert ConsoleSessions("token-two-0123456789", max_age=timedelta(hours=8)).read(cookie) is None
    assert sessions.read(cookie[:-2] + "xx") is None and sessions.read("") is None
    other = sessions.read(sessions.issue("ana"))
    assert other is not None
    assert sessions.csrf_valid(session, sessions.csrf_token(session))
    assert not sessions.csrf_valid(session, sessions.csrf_token(other))
    assert not sessions.csrf_valid(session, None)
