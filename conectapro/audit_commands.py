"""`conectapro replay` and `conectapro audit`: the command-line side of ``audit``."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Annotated

import typer

from audit.replay import mask_phones
from audit.runner import run_audit
from conectapro.command_support import database_for_command, load_settings
from infra.logging import mask_text


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


def replay(
    stream_id: Annotated[str, typer.Argument(help="e.g. customer-c1a2b3… or provider-p123…")],
    show_phones: Annotated[bool, typer.Option("--show-phones", help="Print phone numbers unmasked")] = False,
) -> None:
    """Print a stream as a readable timeline: who said what, what was understood, what was decided."""
    from audit.replay import load_timeline, render_timeline
    settings = load_settings()

    async def load(database_url: str) -> str | None:
        from conectapro.migrations import all_migration_dirs
        from eventstore import PostgresEventStore, apply_migrations
        from privacy.setup import protect

        await apply_migrations(database_url, extra_dirs=all_migration_dirs())
        store = await PostgresEventStore.connect(database_url, min_size=1, max_size=2)
        try:
            timeline = await load_timeline(store, stream_id, protect(store, settings).people)
        finally:
            await store.close()
        return render_timeline(timeline, show_phones=show_phones) if timeline.events else None

    with database_for_command(settings) as database_url:
        text = asyncio.run(load(database_url))
    if text is None:
        typer.echo(f"no events in stream {stream_id}", err=True)
        raise typer.Exit(1)
    typer.echo(text)


def audit(
    stream: Annotated[str | None, typer.Option("--stream", help="Audit this stream only")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Audit every stream, in one pass")] = False,
    jobs: Annotated[int | None, typer.Option(help="Processes for --all (default: CPUs, at most 4)", min=1)] = None,
    show_phones: Annotated[bool, typer.Option("--show-phones", help="Print phone numbers unmasked")] = False,
) -> None:
    """Re-run every recorded decision from its recorded inputs (never the LLM) and compare with the store.

    Exit 0 when every decision re-decides identically; 1 with a diff per divergent stream, and the decisions
    that could not be re-decided because the technicians' views they read are no longer known.
    """
    if (stream is None) == (not everything):
        typer.echo("give exactly one of --stream STREAM_ID or --all", err=True)
        raise typer.Exit(2)
    settings = load_settings()
    with database_for_command(settings) as database_url:
        from conectapro.migrations import all_migration_dirs
        from eventstore import apply_migrations
        from privacy.setup import master_secret

        asyncio.run(apply_migrations(database_url, extra_dirs=all_migration_dirs()))
        started = time.perf_counter()
        report, plan = run_audit(database_url, stream=stream, jobs=jobs or default_jobs(), progress=everything,
                                 master_key=master_secret(settings))  # fmt: skip
        elapsed = time.perf_counter() - started
    if stream is not None and report.events == 0:
        typer.echo(f"no events in stream {stream}", err=True)
        raise typer.Exit(2)
    skipped = plan.in_store - report.events
    others = "" if stream is not None else f" (+{skipped:,} that record no decision: sends, delivery statuses, errors)"
    summary = (
        f"audited {_counted(report.events, 'event')}{others}, {_counted(report.decisions, 'decision')} in "
        f"{_counted(report.streams, 'stream')} in {elapsed:.1f} s"
    )
    if report.forgotten:
        # Not a failure: erased personal values cannot be compared, everything else of those decisions was.
        summary += f" ({_counted(len(report.forgotten), 'stream')} of forgotten people, checked without their data)"
    if report.clean:
        typer.echo(f"{summary}: every decision re-decides identically")
        return
    diff = report.render()
    typer.echo(diff if show_phones else mask_phones(mask_text(diff)))
    found = [f"{len(report.divergences)} divergent stream(s)"] if report.divergences else []
    if report.views_unknown:
        unknown = _counted(report.not_re_decided, "decision")
        found.append(f"{unknown} not re-decided (the technicians' views they read are no longer known)")
    typer.echo(f"{summary}: {', '.join(found)}")
    raise typer.Exit(1)


def _counted(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def register(app: typer.Typer) -> None:
    """Add `replay` and `audit` to the command line."""
    app.command("replay")(replay)
    app.command("audit")(audit)
