"""The `conectapro` command line: one entry point for operators and developers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Annotated

import structlog
import typer

from conectapro.command_support import database_for_command, load_settings
from conectapro.infrastructure import start_infrastructure
from conectapro.service_table import default_services, describe, processes  # importing it registers the services
from conectapro.supervisor import WORKER_INDEX, Supervisor, child_environment
from infra import event_loop
from infra.gc_tuning import tune_for_service
from infra.metrics_server import metrics_port, serving_metrics
from infra.runtime import SERVICES, load, serve
from infra.settings import Settings
from infra.telemetry import setup_tracing, shutdown_tracing

app = typer.Typer(help="ConectaPro: customers and technicians in Chile, through WhatsApp.", no_args_is_help=True)
log = structlog.get_logger("conectapro")


@app.command()
def nlu(
    text: str,
    state: Annotated[
        str | None, typer.Option(help="What the conversation is asking for (service, comuna, urgency, ...)")
    ] = None,
    llm: Annotated[
        bool, typer.Option("--llm", help="Also ask the configured model (OPENAI_*), as the orchestrator would")
    ] = False,
) -> None:
    """Print what the deterministic rules understand of TEXT, as the intent JSON (--llm: and the model)."""
    from orchestrator.understanding import EXPECTING, understand_text

    if state is not None and state not in EXPECTING:
        typer.echo(f"--state must be one of: {', '.join(EXPECTING)}", err=True)
        raise typer.Exit(2)
    if llm:
        from conectapro.llm_cli import nlu_with_llm

        typer.echo(json.dumps(nlu_with_llm(text, state), indent=2, ensure_ascii=False))
        return
    typer.echo(understand_text(text, state).model_dump_json(indent=2))


@app.command()
def migrate() -> None:
    """Apply the database migrations (idempotent; safe when two processes run it at once)."""
    from conectapro.migrations import migrate as apply_all

    settings = load_settings()
    with database_for_command(settings) as database_url:
        applied = asyncio.run(apply_all(database_url))
    typer.echo(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")


@app.command()
def run(
    services: Annotated[
        list[str] | None, typer.Argument(help="Services to start (default: all). Known: see `conectapro services`.")
    ] = None,
) -> None:
    """Start the infrastructure (embedded unless DATABASE_URL / NATS_URL are set) and the services."""
    settings = load_settings()
    chosen = services or default_services(settings)
    unknown = [name for name in chosen if name not in SERVICES]
    if unknown:
        typer.echo(f"unknown service(s): {', '.join(unknown)}; known: {', '.join(SERVICES) or 'none'}", err=True)
        raise typer.Exit(2)
    if "sender" in chosen:
        from conectapro.local_mode import check_sender
        from outbound.service import GraphApiNotConfigured

        try:
            check_sender(settings)
        except GraphApiNotConfigured as error:
            typer.echo(f"configuration error: {error}", err=True)
            raise typer.Exit(2) from error
    # A supervised child is one service of a `conectapro run` that already migrated and started the servers.
    supervised = bool(os.environ.get("CONECTAPRO_SUPERVISED"))
    if not supervised:
        chosen = processes(chosen, settings)
    infra = start_infrastructure(settings)
    try:
        settings = settings.with_servers(infra.database_url, infra.nats_url)
        if not supervised:
            event_loop.run(_migrate(infra.database_url))
        if len(chosen) == 1:
            event_loop.run(_serve(settings, chosen, announce=not supervised))
        else:
            _announce(settings, chosen)
            Supervisor(chosen, child_environment(infra.database_url, infra.nats_url)).run()
    finally:
        infra.stop()


@app.command("services")
def list_services() -> None:
    """List the services `conectapro run` knows."""
    for name, target in SERVICES.items():
        typer.echo(f"{name:14} {target}")


async def _migrate(database_url: str) -> None:
    """Once per `conectapro run`, before any service starts: the services themselves never migrate."""
    from conectapro.migrations import migrate as apply_all

    await apply_all(database_url)


async def _serve(settings: Settings, chosen: list[str], *, announce: bool) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    tune_for_service()
    # One service per process (`run` with several starts a child each): the process is named after it.
    setup_tracing(chosen[0] if len(chosen) == 1 else "conectapro")
    tasks = {name: asyncio.create_task(serve(load(name), settings, stopping), name=name) for name in chosen}
    if announce:
        _announce(settings, chosen)
    port = metrics_port(settings.metrics_port, list(SERVICES), chosen[0]) if len(chosen) == 1 else None
    worker = int(os.environ.get(WORKER_INDEX, "0"))
    if port is not None and worker > 0:
        # Further ingress workers: each its own port, after those of the services.
        port = settings.metrics_port + len(SERVICES) + worker - 1
    async with serving_metrics(settings.metrics_host, port, service=chosen[0] if chosen else "none"):
        stop_signal = asyncio.create_task(stopping.wait(), name="stop-signal")
        # Any service ending on its own (a crash) stops the others: a half-running pipeline would lose work.
        await asyncio.wait([stop_signal, *tasks.values()], return_when=asyncio.FIRST_COMPLETED)
        stopping.set()
        if tasks:
            _, pending = await asyncio.wait(tasks.values(), timeout=15)
            for task in pending:
                task.cancel()
    failed = [task for task in tasks.values() if task.done() and not task.cancelled() and task.exception()]
    for task in failed:
        log.error("service_failed", service=task.get_name(), error=repr(task.exception()))
    shutdown_tracing()
    if failed:
        raise SystemExit(1)
    log.info("stopped")


def _announce(settings: Settings, chosen: list[str]) -> None:
    lines = [
        "ConectaPro is up.",
        f"  PostgreSQL: {settings.database_url}",
        f"  NATS:       {settings.nats_url}",
        f"  services:   {describe(chosen) if chosen else 'none yet (infrastructure only)'}",
        *_metrics_lines(settings, list(dict.fromkeys(chosen))),
        "Stop with Ctrl-C.",
    ]
    print("\n".join(lines), file=sys.stderr, flush=True)


def _metrics_lines(settings: Settings, chosen: list[str]) -> list[str]:
    ports = [(name, metrics_port(settings.metrics_port, list(SERVICES), name)) for name in chosen]
    shown = ", ".join(f"{name} :{port}" for name, port in ports if port is not None)
    return [f"  metrics:    http://{settings.metrics_host}:PORT/metrics and /healthz: {shown}"] if shown else []


def main() -> None:
    from conectapro.privacy_cli import app as privacy_app

    app.add_typer(privacy_app, name="privacy")
    from conectapro.providers_cli import app as providers_app

    app.add_typer(providers_app, name="providers")
    from conectapro.operators_cli import app as operators_app

    app.add_typer(operators_app, name="operators")
    from conectapro.audit_commands import register as register_audit
    from conectapro.projections_cli import app as projections_app

    app.add_typer(projections_app, name="projections")
    register_audit(app)
    from conectapro.llm_cli import register as register_llm

    register_llm(app)
    app()


if __name__ == "__main__":
    main()
