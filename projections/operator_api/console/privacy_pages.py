"""The console's page for a person's rights (Law 21.719): an admin types a phone and exports everything held
about that person, or erases it after confirming. Same functions as ``/v1/privacy`` and ``conectapro
privacy``; every request and its outcome is on the record (listed on the page) naming the admin."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from conectapro.data_export import requested_phone
from conectapro.privacy_requests import latest_privacy_requests, pending_technician_requests
from contracts.privacy_events import ErasureOutcome
from projections.operator_api.console.auth import Admin, CheckedForm, Operator
from projections.operator_api.console.pages import render
from projections.operator_api.deps import State
from projections.operator_api.privacy_actions import PrivacyUnavailable, export_for, forget_for

router = APIRouter(prefix="/console", include_in_schema=False)

#: How many of the latest requests the page lists (``conectapro privacy requests`` lists them all).
RECENT = 50
_BAD_PHONE = "Escribe un número de WhatsApp: de 8 a 15 dígitos, con el código de país (56…)."
_NOT_KNOWN = "No tenemos datos de ese número: nunca nos escribió, o ya fueron borrados. La solicitud quedó registrada."


async def _page(
    request: Request, state: State, operator: Operator, status_code: int = 200, **context: object
) -> HTMLResponse:
    # Technicians' WhatsApp requests waiting for an admin first, then the latest answered.
    recent = [*await pending_technician_requests(state.store), *await latest_privacy_requests(state.store, RECENT)]
    return render(request, "privacy.html", operator, status_code, requests=recent, **context)


@router.get("/privacy")
async def privacy_page(request: Request, state: State, operator: Admin) -> HTMLResponse:
    return await _page(request, state, operator)


@router.post("/privacy/export")
async def export_page(
    request: Request, state: State, operator: CheckedForm, _: Admin, phone: Annotated[str, Form(max_length=32)] = ""
) -> HTMLResponse:
    digits = requested_phone(phone)
    if digits is None:
        return await _page(request, state, operator, 422, phone=phone, error=_BAD_PHONE)
    try:
        done = await export_for(state, digits, by=operator.name)
    except PrivacyUnavailable as error:
        return await _page(request, state, operator, 503, phone=digits, error=f"No disponible: {error}")
    if done.document is None:
        return await _page(request, state, operator, 404, phone=digits, error=_NOT_KNOWN)
    counts = done.document["counts"]
    notice = (f"Exportado: {counts['leads']} solicitudes, {counts['messages_in']} mensajes recibidos y "
              f"{counts['messages_out']} enviados. Entrégale este documento a la persona.")  # fmt: skip
    return await _page(request, state, operator, phone=digits, notice=notice, person_key=done.person_key,
                       document=json.dumps(done.document, ensure_ascii=False, indent=2))  # fmt: skip


@router.post("/privacy/forget")
async def forget_page(
    request: Request,
    state: State,
    operator: CheckedForm,
    _: Admin,
    phone: Annotated[str, Form(max_length=32)] = "",
    force: Annotated[bool, Form()] = False,
    confirmed: Annotated[bool, Form()] = False,
) -> HTMLResponse:
    digits = requested_phone(phone)
    if digits is None:
        return await _page(request, state, operator, 422, phone=phone, error=_BAD_PHONE)
    if not confirmed:
        return await _page(request, state, operator, phone=digits, confirm_forget=True, force=force)
    try:
        erasure = await forget_for(state, digits, by=operator.name, force=force)
    except PrivacyUnavailable as error:
        return await _page(request, state, operator, 503, phone=digits, error=f"No se borró nada: {error}")
    match erasure.outcome:
        case ErasureOutcome.REFUSED_JOB_IN_PROGRESS:
            return await _page(request, state, operator, 409, phone=digits, error=(
                "No se borró: un técnico tiene o aceptó su trabajo en curso. Si igual corresponde borrar, marca "
                "«borrar aunque haya un trabajo en curso»."))  # fmt: skip
        case ErasureOutcome.ALREADY_FORGOTTEN:
            return await _page(request, state, operator, phone=digits, notice=(
                "No había nada que borrar: ese número no nos escribió nunca o ya fue olvidado."))  # fmt: skip
    removed = erasure.jetstream_messages_removed
    return await _page(request, state, operator, notice=(
        f"Persona {erasure.person_key} olvidada: su llave fue destruida; sus datos en {len(erasure.streams)} "
        f"streams se leen ahora [suprimido] y se borraron {removed} mensajes de JetStream."))  # fmt: skip
