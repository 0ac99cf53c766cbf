"""The console's pages: each one reads through the same functions as the JSON API and renders a template."""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime, time
from typing import Annotated, Any
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from contracts.commands import ActivateProvider, DeactivateProvider, ProviderCommand, RegisterProvider
from contracts.comunas import lookup_comuna
from contracts.events import EventMetadata, NewEvent
from contracts.intent import Service
from contracts.lead_events import LeadStatus
from contracts.operator_events import DeadLetterRedriven, OperatorRole
from eventstore import ANY_VERSION, ConcurrencyError
from orchestrator.domain.providers import ProviderCommandRejected
from privacy.setup import privacy_of
from projections.operator_api import handovers, queries, routes_conversations, routes_stats
from projections.operator_api.console.auth import Admin, CheckedForm, Console, ConsoleState, LoggedIn, Operator
from projections.operator_api.console.sessions import COOKIE_NAME
from projections.operator_api.dead_letters import REDRIVABLE, DeadLettersUnavailable, NotRedrivable
from projections.operator_api.deps import State
from projections.operator_api.operator_account_store import OperatorAccountStore, generate_password
from projections.operator_api.operator_accounts import OperatorAccountError
from projections.operator_api.operator_queries import list_operators
from projections.operator_api.technician_actions import execute, technician_id_for_registration
from projections.readmodels.counters import CHILE

router = APIRouter(prefix="/console", include_in_schema=False)
log = structlog.get_logger("console")
#: Where operators' re-drives are recorded (who handed which parked message back, and when).
DEAD_LETTERS_STREAM = "dead-letters"
PAGE_SIZE = 50


def render(
    request: Request, template: str, operator: Operator | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    console: ConsoleState = request.app.state.console
    return console.templates.TemplateResponse(
        request, template, {"operator": operator, "roles": OperatorRole, **context}, status_code=status_code
    )


def _see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


# ------------------------------------------------------------------------------------------ login


@router.get("/login")
async def login_form(request: Request, next: str = "/console") -> HTMLResponse:
    return render(request, "login.html", None, next=_safe_next(next))


@router.post("/login")
async def login(
    request: Request,
    state: State,
    console: Console,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form(max_length=512)] = "/console",
) -> Response:
    now = state.clock()
    keys = [f"name:{name.lower()}", f"addr:{request.client.host if request.client else '-'}"]
    wait = console.limiter.retry_after(keys, now)
    if wait is not None:
        minutes = max(1, round(wait.total_seconds() / 60))
        error = f"Demasiados intentos fallidos. Espera {minutes} min antes de intentar de nuevo."
        return render(request, "login.html", None, 429, next=_safe_next(next), name=name, error=error)
    account = await OperatorAccountStore(state.store, clock=state.clock).authenticate(name.lower(), password)
    if account is None:
        console.limiter.failed(keys, now)
        return render(request, "login.html", None, 401, next=_safe_next(next), name=name,
                      error="Nombre o contraseña incorrectos.")  # fmt: skip
    console.limiter.succeeded(keys)
    response = _see_other(_safe_next(next))
    response.set_cookie(
        COOKIE_NAME, console.sessions.issue(account.name), max_age=int(console.sessions.max_age.total_seconds()),
        httponly=True, samesite="strict", secure=console.secure_cookies, path="/console",
    )  # fmt: skip
    return response


@router.post("/logout")
async def logout(_: CheckedForm) -> Response:
    response = _see_other("/console/login")
    response.delete_cookie(COOKIE_NAME, path="/console")
    return response


def _safe_next(path: str) -> str:
    """Only our own pages: a login link must not send the operator to another site afterwards."""
    return path if path.startswith("/console") and "//" not in path and "\\" not in path else "/console"


# ------------------------------------------------------------------------------------------ reads


@router.get("")
async def overview(request: Request, state: State, operator: LoggedIn) -> HTMLResponse:
    stats = await routes_stats.get_stats(state, days=7)
    parked: int | None = None
    if state.dead_letters is not None:
        with contextlib.suppress(DeadLettersUnavailable):
            parked = sum((await state.dead_letters.counts()).values())
    handed_over = await handovers.handed_over_count(state.pool)
    return render(request, "overview.html", operator, stats=stats, statuses=list(LeadStatus), parked=parked,
                  handed_over=handed_over)  # fmt: skip


@router.get("/leads")
async def leads(
    request: Request,
    state: State,
    operator: LoggedIn,
    status: Annotated[LeadStatus | None, Query()] = None,
    service: Annotated[Service | None, Query()] = None,
    comuna: Annotated[str, Query(max_length=60)] = "",
    phone: Annotated[str, Query(max_length=20)] = "",
    desde: Annotated[str, Query(max_length=10)] = "",
    hasta: Annotated[str, Query(max_length=10)] = "",
) -> HTMLResponse:
    errors: list[str] = []
    comuna_name = lookup_comuna(comuna) if comuna else None
    if comuna and comuna_name is None:
        errors.append(f"«{comuna}» no es una comuna de Chile.")
    digits = "".join(ch for ch in phone if ch.isdigit())
    if phone and not 8 <= len(digits) <= 15:
        errors.append("El teléfono debe tener entre 8 y 15 dígitos, con código de país (56…).")
    filters = queries.LeadFilters(
        status=status, service=service, comuna=comuna_name, phone=digits or None,
        created_from=_day_start(desde, errors, "desde"), created_to=_day_start(hasta, errors, "hasta", next_day=True),
    )  # fmt: skip
    page = await queries.list_leads(state.pool, filters, None, PAGE_SIZE) if not errors else None
    return render(request, "leads.html", operator, page=page, errors=errors, statuses=list(LeadStatus),
                  services=list(Service),
                  query={"status": status.value if status else "", "service": service.value if service else "",
                         "comuna": comuna, "phone": phone, "desde": desde, "hasta": hasta})  # fmt: skip


def _day_start(text: str, errors: list[str], field: str, *, next_day: bool = False) -> datetime | None:
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        errors.append(f"La fecha «{field}» debe tener la forma AAAA-MM-DD.")
        return None
    return datetime.combine(day, time.max if next_day else time(), tzinfo=CHILE)


@router.get("/leads/{lead_id}")
async def lead(request: Request, state: State, operator: LoggedIn, lead_id: str) -> HTMLResponse:
    found = await queries.get_lead(state.pool, lead_id) if len(lead_id) <= 140 else None
    if found is None:
        return render(request, "error.html", operator, 404, message=f"No hay una solicitud {lead_id}.")
    return render(request, "lead.html", operator, lead=found)


@router.get("/conversations/{customer_id}")
async def conversation(
    request: Request, state: State, operator: LoggedIn, customer_id: str, notice: str = "", error: str = ""
) -> HTMLResponse:
    try:
        timeline = await routes_conversations.get_timeline(state, _customer(customer_id), after=0, limit=2000)
    except HTTPException:
        return render(request, "error.html", operator, 404, message="No hay una conversación con ese cliente.")
    found = await queries.get_conversation(state.pool, customer_id)
    handover = await handovers.handover(state.store, customer_id, state.clock())
    return render(request, "conversation.html", operator, conversation=found, timeline=timeline,
                  customer_id=customer_id, handover=handover, notice=notice[:200], error=error[:300])  # fmt: skip


@router.get("/conversations/{customer_id}/timeline")
async def conversation_timeline(request: Request, state: State, operator: LoggedIn, customer_id: str) -> HTMLResponse:
    """The timeline alone: the conversation page fetches it again every few seconds."""
    try:
        timeline = await routes_conversations.get_timeline(state, _customer(customer_id), after=0, limit=2000)
    except HTTPException:
        return render(request, "error.html", operator, 404, message="No hay una conversación con ese cliente.")
    return render(request, "_timeline.html", operator, timeline=timeline)


def _customer(customer_id: str) -> str:
    if not customer_id.replace("_", "").replace("-", "").isalnum() or len(customer_id) > 128:
        raise HTTPException(404)
    return customer_id


# ------------------------------------------------------------------------------------------ technicians


@router.get("/technicians")
async def technicians(request: Request, state: State, operator: LoggedIn, notice: str = "") -> HTMLResponse:
    page = await queries.list_providers(state.pool, service=None, comuna=None, active=None, after=None, limit=500)
    return render(request, "technicians.html", operator, technicians=page.items, services=list(Service),
                  notice=notice[:200])  # fmt: skip


@router.post("/technicians")
async def add_technician(
    request: Request,
    state: State,
    operator: CheckedForm,
    _: Admin,
    name: Annotated[str, Form(max_length=100)],
    phone: Annotated[str, Form(max_length=20)],
    comunas: Annotated[str, Form(max_length=2000)],
    services: Annotated[list[Service], Form()],
    capacity: Annotated[int, Form(ge=1, le=50)] = 2,
) -> Response:
    digits = "".join(ch for ch in phone if ch.isdigit())
    given = [c.strip() for c in comunas.split(",") if c.strip()]
    unknown = [c for c in given if lookup_comuna(c) is None]
    if unknown:
        return await _technician_error(request, state, operator, f"No son comunas de Chile: {', '.join(unknown)}.")
    names = tuple(lookup_comuna(c) or c for c in given)
    try:
        privacy = privacy_of(state.store)
        people = privacy.people if privacy is not None else None
        provider_id = await technician_id_for_registration(state.store, people, digits, state.directory)
        command: ProviderCommand = RegisterProvider(
            command_id=_command_id(operator), provider_id=provider_id, name=name.strip(),
            phone=digits, services=tuple(services), comunas=names, capacity=capacity, active=True,
        )  # fmt: skip
    except ValueError as error:
        return await _technician_error(request, state, operator, f"Datos inválidos: {error}")
    return await _technician_action(request, state, operator, command, f"Técnico {name.strip()} registrado.")


@router.post("/technicians/{provider_id}/deactivate")
async def deactivate_technician(
    request: Request, state: State, operator: CheckedForm, _: Admin, provider_id: str
) -> Response:
    command = DeactivateProvider(command_id=_command_id(operator), provider_id=provider_id[:64], reason="console")
    return await _technician_action(request, state, operator, command, "Técnico desactivado.")


@router.post("/technicians/{provider_id}/activate")
async def activate_technician(
    request: Request, state: State, operator: CheckedForm, _: Admin, provider_id: str
) -> Response:
    command = ActivateProvider(command_id=_command_id(operator), provider_id=provider_id[:64])
    return await _technician_action(request, state, operator, command, "Técnico activado.")


def _command_id(operator: Operator) -> str:
    # The command id becomes the events' correlation id: it names the operator who acted.
    return f"console-{operator.name}-{uuid.uuid4()}"


async def _technician_action(
    request: Request, state: State, operator: Operator, command: ProviderCommand, done: str
) -> Response:
    try:
        await execute(state.store, command, clock=state.clock, directory=state.directory)
    except (ProviderCommandRejected, ConcurrencyError) as refused:
        return await _technician_error(request, state, operator, f"No se pudo: {refused}")
    return _see_other(f"/console/technicians?notice={quote(done)}")


async def _technician_error(request: Request, state: State, operator: Operator, message: str) -> HTMLResponse:
    page = await queries.list_providers(state.pool, service=None, comuna=None, active=None, after=None, limit=500)
    return render(request, "technicians.html", operator, 422, technicians=page.items, services=list(Service),
                  error=message)  # fmt: skip


# ------------------------------------------------------------------------------------------ operators


@router.get("/operators")
async def operators(request: Request, state: State, operator: Admin) -> HTMLResponse:
    return render(request, "operators.html", operator, operators=await list_operators(state.pool))


@router.post("/operators")
async def add_operator(
    request: Request,
    state: State,
    operator: CheckedForm,
    _: Admin,
    name: Annotated[str, Form(max_length=32)],
    role: Annotated[OperatorRole, Form()],
) -> HTMLResponse:
    password = generate_password()
    accounts = OperatorAccountStore(state.store, clock=state.clock)
    try:
        added = await accounts.add(name.strip().lower(), role, password, by=operator.name)
    except (OperatorAccountError, ConcurrencyError, ValueError) as refused:
        return render(request, "operators.html", operator, 422, operators=await list_operators(state.pool),
                      error=f"No se pudo: {refused}")  # fmt: skip
    return render(request, "operators.html", operator, operators=await list_operators(state.pool),
                  created=added, password=password)  # fmt: skip


@router.post("/operators/{name}/disable")
async def disable_operator(request: Request, state: State, operator: CheckedForm, _: Admin, name: str) -> Response:
    try:
        await OperatorAccountStore(state.store, clock=state.clock).disable(name[:32], by=operator.name)
    except (OperatorAccountError, ConcurrencyError) as refused:
        return render(request, "operators.html", operator, 422, operators=await list_operators(state.pool),
                      error=f"No se pudo: {refused}")  # fmt: skip
    return _see_other("/console/operators")


# ------------------------------------------------------------------------------------------ dead letters


@router.get("/deadletters")
async def dead_letters(request: Request, state: State, operator: LoggedIn, notice: str = "") -> HTMLResponse:
    if state.dead_letters is None:
        return render(request, "error.html", operator, 503, heading="No disponible",
                      message="Esta instalación no lee el stream de mensajes estacionados.")  # fmt: skip
    try:
        letters = await state.dead_letters.page(after=0, limit=200, source=None)
    except DeadLettersUnavailable:
        return render(request, "error.html", operator, 503, heading="No disponible",
                      message="NATS no responde ahora; inténtalo en un momento.")  # fmt: skip
    return render(request, "deadletters.html", operator, letters=letters, redrivable=REDRIVABLE,
                  notice=notice[:200])  # fmt: skip


@router.post("/deadletters/{sequence}/redrive")
async def redrive_dead_letter(
    request: Request, state: State, operator: CheckedForm, _: Admin, sequence: Annotated[int, Path(ge=1, le=2**53)]
) -> Response:
    if state.dead_letters is None:
        return render(request, "error.html", operator, 503, heading="No disponible", message="Sin stream.")
    try:
        letter = await state.dead_letters.redrive(sequence)
    except NotRedrivable as refused:
        return render(request, "error.html", operator, 409, heading="No se puede", message=str(refused))
    except DeadLettersUnavailable:
        return render(request, "error.html", operator, 503, heading="No disponible",
                      message="NATS no responde ahora; inténtalo en un momento.")  # fmt: skip
    if letter is None:
        return _see_other("/console/deadletters?notice=" + quote("Ese mensaje ya no está estacionado."))
    now = state.clock()
    event = DeadLetterRedriven(
        sequence=letter.sequence, source=letter.source, original_subject=letter.original_subject or "",
        reason=letter.reason, by=operator.name, redriven_at=now,
    )  # fmt: skip
    cause = f"console-{operator.name}-{uuid.uuid4()}"
    metadata = EventMetadata(correlation_id=cause, causation_id=cause, recorded_at=now)
    await state.store.append(DEAD_LETTERS_STREAM, ANY_VERSION, [NewEvent.from_event(event, event_id=uuid.uuid4(),
                                                                                      metadata=metadata)])  # fmt: skip
    log.info("dead_letter_redriven", sequence=letter.sequence, source=letter.source, by=operator.name)
    return _see_other("/console/deadletters?notice=" + quote(f"Mensaje {sequence} devuelto a su consumidor."))
