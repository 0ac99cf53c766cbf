"""The console's handed-over conversations (the queue; take, write, hand back) and the one-click audit.

Actions go through ``conversation_actions`` like the JSON API's: decided by the domain, recorded as events
naming the operator; a refusal is shown with its reason (outside WhatsApp's 24-hour window, not taken, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from audit.runner import audit_stream
from contracts.commands import HandBackConversation, OperatorConversationCommand, TakeConversation, WriteToCustomer
from contracts.operator_events import OperatorRole
from eventstore import ConcurrencyError
from orchestrator.domain.handover import ConversationActionRejected, Refusal
from orchestrator.domain.ids import CUSTOMER_STREAM_PREFIX, PROVIDER_STREAM_PREFIX
from projections.operator_api import handovers
from projections.operator_api.console.auth import AgentOrAbove, CheckedForm, LoggedIn, Operator
from projections.operator_api.console.pages import render
from projections.operator_api.conversation_actions import action_id, execute, sendable_text
from projections.operator_api.deps import State
from projections.readmodels.counters import CHILE

router = APIRouter(prefix="/console", include_in_schema=False)

#: Why an action was refused, as the operator reads it.
_REFUSED: dict[Refusal, str] = {
    Refusal.NOT_HANDED_OVER: "La conversación no está derivada a una persona: la atiende el asistente.",
    Refusal.NOT_TAKEN: "Toma la conversación antes de escribir (la tiene otra persona o nadie).",
    Refusal.NOT_THEIRS_TO_HAND_BACK: (
        "Solo quien tomó la conversación, o un administrador, puede devolverla al asistente."
    ),
    Refusal.WINDOW_CLOSED: (
        "No se puede escribir: pasaron más de 24 horas desde el último mensaje del cliente (la ventana de "
        "atención de WhatsApp está cerrada). Podrás escribirle cuando vuelva a escribir."
    ),
}


@router.get("/handovers")
async def queue(request: Request, state: State, operator: LoggedIn) -> HTMLResponse:
    waiting = await handovers.queue(state.pool, state.store, state.clock())
    return render(request, "handovers.html", operator, handovers=waiting)


def _customer_id(customer_id: str) -> str | None:
    valid = customer_id.replace("_", "").replace("-", "").isalnum() and len(customer_id) <= 128
    return customer_id if valid else None


@router.post("/conversations/{customer_id}/take")
async def take(request: Request, state: State, operator: CheckedForm, _: AgentOrAbove, customer_id: str) -> Response:
    def command(key: str, id_: str) -> OperatorConversationCommand:
        return TakeConversation(command_id=id_, customer_key=key, operator=operator.name)

    return await _act(request, state, operator, customer_id, "Conversación tomada: ahora la atiendes tú.", command)


@router.post("/conversations/{customer_id}/write")
async def write(
    request: Request,
    state: State,
    operator: CheckedForm,
    _: AgentOrAbove,
    customer_id: str,
    text: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    body = sendable_text(text)
    if body is None:
        return _back(customer_id, error="Escribe un mensaje (sin caracteres de control).")
    return await _act(request, state, operator, customer_id, "Mensaje enviado al cliente.",
                      lambda key, id_: WriteToCustomer(command_id=id_, customer_key=key, operator=operator.name,
                                                       text=body))  # fmt: skip


@router.post("/conversations/{customer_id}/hand-back")
async def hand_back(
    request: Request, state: State, operator: CheckedForm, _: AgentOrAbove, customer_id: str
) -> Response:
    return await _act(request, state, operator, customer_id, "Conversación devuelta al asistente.",
                      lambda key, id_: HandBackConversation(command_id=id_, customer_key=key, operator=operator.name,
                                                            by_admin=operator.may(OperatorRole.ADMIN)))  # fmt: skip


async def _act(
    request: Request,
    state: State,
    operator: Operator,
    customer_id: str,
    done: str,
    command_of: Callable[[str, str], OperatorConversationCommand],
) -> Response:
    key = _customer_id(customer_id)
    if key is None or await handovers.conversation_state(state.store, key) is None:
        return render(request, "error.html", operator, 404, message="No hay una conversación con ese cliente.")
    try:
        await execute(state.store, command_of(key, action_id(operator.name)), clock=state.clock,
                      directory=state.directory)  # fmt: skip
    except ConversationActionRejected as refused:
        return _back(key, error=_REFUSED[refused.refusal])
    except ConcurrencyError:
        return _back(key, error="La conversación cambió al mismo tiempo: inténtalo de nuevo.")
    return _back(key, notice=done)


def _back(customer_id: str, *, notice: str = "", error: str = "") -> RedirectResponse:
    query = f"?notice={quote(notice)}" if notice else f"?error={quote(error)}"
    return RedirectResponse(f"/console/conversations/{customer_id}{query}", status_code=303)


# ------------------------------------------------------------------------------------------ audit


@router.get("/audit")
async def audit(
    request: Request, state: State, operator: LoggedIn, stream: Annotated[str, Query(max_length=200)] = ""
) -> HTMLResponse:
    """One stream re-decided by the same engine as ``conectapro audit --stream``: OK, or what differs."""
    if not stream.startswith((CUSTOMER_STREAM_PREFIX, PROVIDER_STREAM_PREFIX)) or not stream.isprintable():
        return render(request, "error.html", operator, 404, message="Solo se auditan conversaciones y técnicos.")
    if not await state.store.read_stream(stream, from_version=1):
        return render(request, "error.html", operator, 404, message=f"No hay eventos en {stream}.")
    report = await audit_stream(state.store, stream)
    customer = stream.removeprefix(CUSTOMER_STREAM_PREFIX) if stream.startswith(CUSTOMER_STREAM_PREFIX) else None
    return render(request, "audit.html", operator, stream=stream, report=report, customer_id=customer,
                  audited_at=state.clock().astimezone(CHILE))  # fmt: skip
