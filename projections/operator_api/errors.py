"""How refusals look: 422 with the parameter and the reason (never the value), 404/409 with a sentence,
503 when the database cannot be reached. Also what each route documents in the OpenAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from projections.operator_api.document import Document
from projections.operator_api.schemas import ErrorOut, ValidationErrorOut

log = structlog.get_logger("operator_api")


def invalid(where: str, name: str, reason: str) -> RequestValidationError:
    """A 422 for a value that passed the schema but means nothing here (an unknown comuna, a bad cursor)."""
    return RequestValidationError([{"loc": (where, name), "msg": reason, "type": "value_error"}])


def _text(value: object) -> str:
    # A lone surrogate (valid in a JSON string, not in UTF-8) would make the error response itself fail.
    return str(value).encode("utf-8", "replace").decode("utf-8")


def _issues(errors: Any) -> list[dict[str, Any]]:
    # The offending input is left out on purpose: it may be a phone number, or text the JSON encoder
    # cannot even write, which would turn a 422 into a 500.
    return [
        {
            "loc": [part if isinstance(part, int) else _text(part) for part in e.get("loc", ())],
            "msg": _text(e.get("msg", "")),
            "type": _text(e.get("type", "")),
        }
        for e in errors
    ]


async def _validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": _issues(error.errors())})


async def _database_unavailable(_: Request, error: Exception) -> JSONResponse:
    log.warning("operator_api_database_unavailable", error=type(error).__name__)
    return JSONResponse(status_code=503, content={"detail": "the database is unavailable; try again shortly"})


def _method_not_allowed(document: Document) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        if error.status_code != 405:
            return await http_exception_handler(request, error)
        allow = ", ".join(document.methods(request.url.path))
        return JSONResponse({"detail": "method not allowed"}, 405, headers={"Allow": allow})

    return handle


def install_error_handlers(app: FastAPI, document: Document) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _method_not_allowed(document))
    for error in (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError):
        app.add_exception_handler(error, _database_unavailable)


async def reject_unknown_query_parameters(request: Request) -> None:
    """A router dependency: 422 for a query parameter the operation does not declare."""
    document: Document = request.app.state.document
    known = document.query_parameters(request.method, request.url.path)
    if known is None:
        return
    for name in request.query_params:
        if name not in known:
            raise invalid("query", name, "unknown parameter")


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error responses a route documents."""
    described = {
        400: (ErrorOut, "The body is not JSON"),
        401: (ErrorOut, "Missing or wrong bearer token"),
        403: (ErrorOut, "The operator named may not do this (their role, or a disabled account)"),
        404: (ErrorOut, "No such resource"),
        409: (ErrorOut, "Conflicts with the current state"),
        422: (ValidationErrorOut, "A parameter or the body is invalid; the reason is given per parameter"),
        503: (ErrorOut, "The database is unavailable"),
    }
    return {code: {"model": described[code][0], "description": described[code][1]} for code in codes}
