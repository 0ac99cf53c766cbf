"""Who is asking: the console's dependencies for a logged-in operator, a role, and a form's CSRF token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.templating import Jinja2Templates

from contracts.operator_events import OperatorRole
from projections.operator_api.console.login_limiter import LoginLimiter
from projections.operator_api.console.sessions import COOKIE_NAME, ConsoleSession, ConsoleSessions
from projections.operator_api.deps import State
from projections.operator_api.operator_account_store import OperatorAccountStore
from projections.operator_api.operator_accounts import OperatorAccount


@dataclass
class ConsoleState:
    sessions: ConsoleSessions
    limiter: LoginLimiter
    templates: Jinja2Templates
    #: Secure cookies (HTTPS only) everywhere but local mode.
    secure_cookies: bool


class LoginRequired(Exception):
    """No valid session: the page answers with a redirect to the login form."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class NotAllowed(Exception):
    """A logged-in operator asked for something their role does not allow (403, with the reason)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


@dataclass(frozen=True)
class Operator:
    account: OperatorAccount
    session: ConsoleSession
    csrf: str

    @property
    def name(self) -> str:
        return self.account.name

    def may(self, role: OperatorRole) -> bool:
        return self.account.may(role)


def console_state(request: Request) -> ConsoleState:
    console: ConsoleState = request.app.state.console
    return console


Console = Annotated[ConsoleState, Depends(console_state)]


async def current_operator(request: Request, state: State, console: Console) -> Operator:
    session = console.sessions.read(request.cookies.get(COOKIE_NAME))
    account = await OperatorAccountStore(state.store, clock=state.clock).get(session.operator) if session else None
    if session is None or account is None or not account.active:
        raise LoginRequired(request.url.path)
    return Operator(account, session, console.sessions.csrf_token(session))


LoggedIn = Annotated[Operator, Depends(current_operator)]


def _requiring(role: OperatorRole) -> object:
    async def check(operator: LoggedIn) -> Operator:
        if not operator.may(role):
            raise NotAllowed(f"Tu rol ({operator.account.role.value}) no permite esta acción.")
        return operator

    return Depends(check)


AgentOrAbove = Annotated[Operator, _requiring(OperatorRole.AGENT)]
Admin = Annotated[Operator, _requiring(OperatorRole.ADMIN)]


async def checked_form(operator: LoggedIn, console: Console, csrf: Annotated[str, Form()] = "") -> Operator:
    """A POST from a page we served to this session: anything else is refused before it changes a thing."""
    if not console.sessions.csrf_valid(operator.session, csrf):
        raise NotAllowed("El formulario venció o no trae su token CSRF: recarga la página e inténtalo de nuevo.")
    return operator


CheckedForm = Annotated[Operator, Depends(checked_form)]

SESSION_HOURS = timedelta(hours=8)
