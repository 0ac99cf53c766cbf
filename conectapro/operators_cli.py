"""`conectapro operators add | list | disable | reset-password`: who may use the console.

Changes made here are recorded as made by ``cli`` (someone with shell access to the server).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from conectapro.command_support import database_for_command, load_settings
from conectapro.migrations import migrate
from contracts.operator_events import OperatorRole
from eventstore import ConcurrencyError, PostgresEventStore
from infra.clock import utc_now
from projections.operator_api.operator_account_store import OperatorAccountStore, generate_password
from projections.operator_api.operator_accounts import OperatorAccount, OperatorAccountError
from projections.operator_api.operator_queries import list_operators

app = typer.Typer(help="Operator accounts of the console: add, list, disable, reset a password.", no_args_is_help=True)
CLI_ACTOR = "cli"
T = TypeVar("T")


def _run(action: Callable[[PostgresEventStore], Awaitable[T]]) -> T:
    async def run(database_url: str) -> T:
        await migrate(database_url)
        store = await PostgresEventStore.connect(database_url, min_size=1, max_size=2)
        try:
            return await action(store)
        finally:
            await store.close()

    with database_for_command(load_settings()) as database_url:
        try:
            return asyncio.run(run(database_url))
        except (OperatorAccountError, ConcurrencyError) as refused:
            typer.echo(f"refused: {refused}", err=True)
            raise typer.Exit(1) from refused


def _password(from_stdin: bool) -> tuple[str, bool]:
    """The password given on standard input, or a generated one (and whether it must be shown)."""
    if not from_stdin:
        return generate_password(), True
    return sys.stdin.readline().rstrip("\n"), False


def _describe(account: OperatorAccount) -> str:
    return f"{account.name}  role={account.role.value}  {'active' if account.active else 'disabled'}"


@app.command("add")
def add(
    name: Annotated[str, typer.Option(help="Login name: lower case letters, digits, '.', '_' or '-'")],
    role: Annotated[OperatorRole, typer.Option(help="viewer reads; agent also answers customers; admin manages")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin")] = False,
) -> None:
    """Add an operator; prints a one-time password unless --password-stdin gives one."""
    password, show = _password(password_stdin)
    account = _run(lambda store: OperatorAccountStore(store, clock=utc_now).add(name, role, password, by=CLI_ACTOR))
    typer.echo(f"added: {_describe(account)}")
    if show:
        typer.echo(f"one-time password (shown once): {password}")


@app.command("reset-password")
def reset_password(
    name: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin")] = False,
) -> None:
    """Give an operator a new password; prints it unless --password-stdin gives one."""
    password, show = _password(password_stdin)
    account = _run(lambda store: OperatorAccountStore(store, clock=utc_now).set_password(name, password, by=CLI_ACTOR))
    typer.echo(f"password reset: {_describe(account)}")
    if show:
        typer.echo(f"one-time password (shown once): {password}")


@app.command("disable")
def disable(name: str) -> None:
    """Refuse an operator's logins and end their sessions."""
    account = _run(lambda store: OperatorAccountStore(store, clock=utc_now).disable(name, by=CLI_ACTOR))
    typer.echo(f"disabled: {_describe(account)}")


@app.command("list")
def list_accounts() -> None:
    """List the operators (as the projections have folded them: `conectapro run` keeps them current)."""

    found = _run(lambda store: list_operators(store.pool))
    for row in found:
        state = "active" if row.active else "disabled"
        typer.echo(f"{row.name}  role={row.role}  {state}  added by {row.added_by} {row.added_at:%Y-%m-%d}")
    if not found:
        typer.echo("no operators yet (add one with `conectapro operators add`)")
