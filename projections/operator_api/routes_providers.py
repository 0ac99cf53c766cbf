"""``/v1/providers``: technicians. Reads come from the read model; every change is an operator command,
decided and recorded as an event by ``projections.operator_api.technician_actions`` (the same path as the CLI)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from fastapi.exceptions import RequestValidationError

from contracts.commands import ActivateProvider, DeactivateProvider, ProviderCommand, RegisterProvider, UpdateProvider
from contracts.intent import Service
from eventstore import ConcurrencyError
from orchestrator.domain.providers import (
    InvalidProviderData,
    ProviderAlreadyRegistered,
    ProviderCommandRejected,
    ProviderView,
    UnknownProvider,
)
from privacy.setup import privacy_of
from projections.operator_api import queries
from projections.operator_api.cursor import InvalidCursor, decode_provider_cursor
from projections.operator_api.deps import State
from projections.operator_api.errors import invalid, responses
from projections.operator_api.params import ComunaQuery, Cursor, Limit, canonical_comuna
from projections.operator_api.schemas import ProviderIn, ProviderOut, ProviderPage, ProviderPatch
from projections.operator_api.technician_actions import execute, technician_id_for_registration

router = APIRouter(tags=["technicians"])

ProviderId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="The technician's id")]


def view_out(view: ProviderView, known: ProviderOut | None = None) -> ProviderOut:
    """The decision's own view (never behind), with the read model's extras when it has them."""
    return ProviderOut(
        provider_id=view.provider_id, name=view.name, phone=view.phone, services=list(view.services),
        comunas=sorted(view.comunas), capacity=view.capacity, active=view.active, active_jobs=view.active_jobs,
        active_leads=list(view.active_leads), pending_offers=list(view.pending_offers), rating_avg=view.rating_avg,
        rating_count=view.rating_count, last_assigned_at=view.last_assigned_at,
        jobs_completed=known.jobs_completed if known else None, registered_at=known.registered_at if known else None,
        updated_at=known.updated_at if known else None,
    )  # fmt: skip


async def _run(state: State, command: ProviderCommand) -> ProviderView:
    """Decide and record ``command``, mapping refusals onto HTTP statuses with the domain's own reason."""
    try:
        return await execute(state.store, command, clock=state.clock, directory=state.directory)
    except UnknownProvider as error:
        raise HTTPException(404, detail=str(error)) from error
    except ProviderAlreadyRegistered as error:
        raise HTTPException(409, detail=str(error)) from error
    except InvalidProviderData as error:
        raise RequestValidationError([{"loc": ("body",), "msg": str(error), "type": "value_error"}]) from error
    except ProviderCommandRejected as error:
        raise HTTPException(409, detail=str(error)) from error
    except ConcurrencyError as error:
        raise HTTPException(409, detail="the technician was changed at the same time; try again") from error


def _command_id() -> str:
    return f"api-{uuid.uuid4()}"


@router.post(
    "/providers",
    response_model=ProviderOut,
    status_code=status.HTTP_201_CREATED,
    responses=responses(400, 401, 409, 422, 503),
)
async def register_provider(state: State, body: ProviderIn) -> ProviderOut:
    """Register a technician (recorded as ``ProviderRegistered``). Registering the same one again with the
    same details changes nothing; different details for a registered number are a conflict."""
    comunas = tuple(canonical_comuna(c, "body", "comunas") or c for c in body.comunas)
    privacy = privacy_of(state.store)
    provider_id = await technician_id_for_registration(
        state.store, privacy.people if privacy is not None else None, body.phone, state.directory
    )
    command = RegisterProvider(
        command_id=_command_id(), provider_id=provider_id, name=body.name, phone=body.phone,
        services=tuple(body.services), comunas=comunas, capacity=body.capacity, active=body.active,
    )  # fmt: skip
    return view_out(await _run(state, command))


@router.get("/providers", response_model=ProviderPage, responses=responses(401, 422, 503))
async def list_providers(
    state: State,
    service: Service | None = None,
    comuna: ComunaQuery = None,
    active: bool | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> ProviderPage:
    """Technicians by id, with their coverage, capacity, current load and ratings."""
    try:
        after = decode_provider_cursor(cursor) if cursor is not None else None
    except InvalidCursor as error:
        raise invalid("query", "cursor", str(error)) from error
    return await queries.list_providers(
        state.pool, service=service, comuna=canonical_comuna(comuna), active=active, after=after, limit=limit
    )


@router.patch(
    "/providers/{provider_id}", response_model=ProviderOut, responses=responses(400, 401, 404, 409, 422, 503)
)
async def change_provider(state: State, provider_id: ProviderId, body: ProviderPatch) -> ProviderOut:
    """Change coverage (services, comunas), capacity or whether jobs are offered (active). Each change is
    recorded as an event (``ProviderUpdated``, ``ProviderDeactivated``, ``ProviderActivated``)."""
    given = {name for name in body.model_fields_set if getattr(body, name) is not None}  # null = leave as is
    if not given & {"services", "comunas", "capacity", "active"}:
        raise invalid("body", "body", "nothing to change: give services, comunas, capacity or active")
    if "reason" in given and body.active is not False:
        raise invalid("body", "reason", "a reason goes with active=false only")
    view: ProviderView | None = None
    if given & {"services", "comunas", "capacity"}:
        comunas = (
            tuple(canonical_comuna(c, "body", "comunas") or c for c in body.comunas) if body.comunas else None
        )
        services = tuple(body.services) if body.services else None
        update = UpdateProvider(
            command_id=_command_id(), provider_id=provider_id, services=services, comunas=comunas,
            capacity=body.capacity,
        )  # fmt: skip
        view = await _run(state, update)
    if body.active is True:
        view = await _run(state, ActivateProvider(command_id=_command_id(), provider_id=provider_id))
    elif body.active is False:
        deactivate = DeactivateProvider(command_id=_command_id(), provider_id=provider_id, reason=body.reason)
        view = await _run(state, deactivate)
    if view is None:  # unreachable: something above was given
        raise invalid("body", "body", "nothing to change")
    return view_out(view, await queries.get_provider(state.pool, provider_id))
