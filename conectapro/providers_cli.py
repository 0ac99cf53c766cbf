"""`conectapro providers add | list | deactivate | activate`: operators register technicians."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

import typer
from pydantic import ValidationError

from conectapro.migrations import migrate
from contracts.commands import ActivateProvider, DeactivateProvider, ProviderCommand, RegisterProvider
from contracts.intent import Service
from eventstore import PostgresEventStore
from infra.clock import utc_now
from orchestrator.domain.providers import ProviderCommandRejected, ProviderView
from orchestrator.provider_directory import ProviderDirectory
from projections.operator_api.technician_actions import execute, technician_id_for_registration

app = typer.Typer(help="Technicians: register, list, deactivate, activate.", no_args_is_help=True)


def _split(values: list[str]) -> tuple[str, ...]:
    """Accept both `--comunas Ñuñoa --comunas Macul` and `--comunas "Ñuñoa,Macul"`."""
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _describe(view: ProviderView) -> str:
    state = "active" if view.active else "inactive"
    rating = f"{view.rating_avg}★ ({view.rating_count})" if view.rating_count else "no ratings"
    return (
        f"{view.provider_id}  {view.name}  +{view.phone}  {state}  services={','.join(view.services)}  "
        f"comunas={','.join(sorted(view.comunas))}  jobs={view.active_jobs}/{view.capacity}  {rating}"
    )


async def _run(database_url: str, command: ProviderCommand | None, phone: str | None = None) -> list[ProviderView]:
    from conectapro.command_support import load_settings
    from privacy.setup import protect

    await migrate(database_url)
    store = await PostgresEventStore.connect(database_url, min_size=1, max_size=2)
    privacy = protect(store, load_settings())  # a technician's name and phone are sealed with their key
    directory = ProviderDirectory(store)  # folded once, then only what each step adds
    try:
        if isinstance(command, RegisterProvider) and phone is not None:
            provider_id = await technician_id_for_registration(store, privacy.people, phone, directory)
            command = command.model_copy(update={"provider_id": provider_id})
        await directory.catch_up()
        if command is None:
            return sorted(directory.views.values(), key=lambda v: v.name)
        if isinstance(command, RegisterProvider) and command.provider_id in directory.views:
            # Registering the same data again changes nothing; different data is refused by the decision.
            view = await execute(store, command, clock=utc_now, directory=directory)
            typer.echo(f"already registered, unchanged: {_describe(view)}")
            raise typer.Exit(0)
        return [await execute(store, command, clock=utc_now, directory=directory)]
    finally:
        await store.close()


def _execute(build: type[ProviderCommand], register_phone: str | None = None, **fields: object) -> list[ProviderView]:
    from conectapro.command_support import database_for_command, load_settings

    try:
        command = build.model_validate({"command_id": f"cli-{uuid.uuid4()}", **fields})
    except ValidationError as error:
        raise typer.BadParameter(str(error)) from error
    with database_for_command(load_settings()) as database_url:
        try:
            return asyncio.run(_run(database_url, command, register_phone))
        except ProviderCommandRejected as rejected:
            typer.echo(f"refused: {rejected}", err=True)
            raise typer.Exit(1) from rejected


@app.command("add")
def add(
    name: Annotated[str, typer.Option(help="Full name, as customers will see it")],
    phone: Annotated[str, typer.Option(help="WhatsApp number with country code, e.g. 56912345678")],
    services: Annotated[list[Service], typer.Option(help="Electricidad, Gasfiteria and/or Cerrajeria")],
    comunas: Annotated[list[str], typer.Option(help="Comunas covered (official names; accents optional)")],
    capacity: Annotated[int, typer.Option(help="Jobs at the same time")] = 2,
) -> None:
    """Register a technician."""
    digits = phone.lstrip("+").replace(" ", "")
    [view] = _execute(
        RegisterProvider,
        register_phone=digits,  # the id is the phone's person key, looked up once the store is open
        provider_id="new",
        name=name,
        phone=digits,
        services=tuple(services),
        comunas=_split(comunas),
        capacity=capacity,
    )
    typer.echo(f"registered: {_describe(view)}")


@app.command("list")
def list_providers() -> None:
    """List the technicians."""
    from conectapro.command_support import database_for_command, load_settings

    with database_for_command(load_settings()) as database_url:
        views = asyncio.run(_run(database_url, None))
    for view in views:
        typer.echo(_describe(view))
    if not views:
        typer.echo("no technicians registered yet")


@app.command("deactivate")
def deactivate(provider_id: str, reason: Annotated[str | None, typer.Option()] = None) -> None:
    """Stop offering jobs to a technician."""
    [view] = _execute(DeactivateProvider, provider_id=provider_id, reason=reason)
    typer.echo(f"deactivated: {_describe(view)}")


@app.command("activate")
def activate(provider_id: str) -> None:
    """Offer jobs to a technician again."""
    [view] = _execute(ActivateProvider, provider_id=provider_id)
    typer.echo(f"activated: {_describe(view)}")
