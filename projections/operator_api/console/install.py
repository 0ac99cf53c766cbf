"""Mounting the console on the operator API: its state, pages, static files and error pages."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from projections.operator_api.console import handover_pages, pages, privacy_pages
from projections.operator_api.console.auth import SESSION_HOURS, ConsoleState, LoginRequired, NotAllowed
from projections.operator_api.console.login_limiter import LoginLimiter
from projections.operator_api.console.sessions import ConsoleSessions
from projections.readmodels.counters import CHILE

_HERE = Path(__file__).parent


def chile_time(moment: datetime, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """Operators read times as they live them: in Chile."""
    return moment.astimezone(CHILE).strftime(pattern)


def install_console(app: FastAPI, *, api_token: str, secure_cookies: bool) -> None:
    templates = Jinja2Templates(directory=_HERE / "templates")
    templates.env.filters["chile"] = chile_time
    app.state.console = ConsoleState(
        sessions=ConsoleSessions(api_token, max_age=SESSION_HOURS),
        limiter=LoginLimiter(),
        templates=templates,
        secure_cookies=secure_cookies,
    )
    app.mount("/console/static", StaticFiles(directory=_HERE / "static"), name="console-static")
    app.include_router(pages.router)
    app.include_router(handover_pages.router)
    app.include_router(privacy_pages.router)

    async def login_required(request: Request, error: Exception) -> Response:
        assert isinstance(error, LoginRequired)
        if request.method != "GET":
            return HTMLResponse("Tu sesión terminó: vuelve a ingresar.", status_code=401)
        return RedirectResponse(f"/console/login?next={quote(error.next_path)}", status_code=303)

    async def not_allowed(request: Request, error: Exception) -> Response:
        assert isinstance(error, NotAllowed)
        return pages.render(request, "error.html", None, 403, heading="No permitido", message=error.reason)

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(NotAllowed, not_allowed)
