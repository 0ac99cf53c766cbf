"""`conectapro projections rebuild [NAME] | status`: the read models behind the operator API."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from conectapro.command_support import load_settings
from conectapro.migrations import migrate
from eventstore import PostgresEventStore
from privacy.setup import protect
from projections.catalog import PROJECTIONS, UnknownProjection, chosen
from projections.lag import Lag, measure_all
from projections.rebuild import DEFAULT_BATCH, RebuildResult, rebuild

app = typer.Typer(help="Read models: rebuild them from the event store, see how far behind they are.",
                  no_args_is_help=True)


async def _rebuild(database_url: str, names: list[str] | None, batch_size: int) -> RebuildResult:
    await migrate(database_url)
    store = await PostgresEventStore.connect(database_url, min_size=2, max_size=3)
    protect(store, load_settings())
    try:
        return await rebuild(store, chosen(names), batch_size=batch_size)
    finally:
        await store.close()


async def _status(database_url: str) -> list[Lag]:
    await migrate(database_url)
    store = await PostgresEventStore.connect(database_url, min_size=1, max_size=1)
    try:
        return await measure_all(store, PROJECTIONS.values())
    finally:
        await store.close()


@app.command("rebuild")
def rebuild_command(
    name: Annotated[
        str | None, typer.Argument(help=f"One projection ({', '.join(PROJECTIONS)}); all of them if omitted")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=100, max=100_000, help="Events read per query")] = DEFAULT_BATCH,
) -> None:
    """Empty the projection's tables and checkpoint, then replay the whole event store into them.

    Safe while `conectapro run` is up: the live projection waits for the rebuild, then carries on from it.
    """
    from conectapro.command_support import database_for_command, load_settings

    try:
        names = [name] if name else None
        chosen(names)
    except UnknownProjection as error:
        raise typer.BadParameter(str(error)) from error
    with database_for_command(load_settings()) as database_url:
        result = asyncio.run(_rebuild(database_url, names, batch_size))
    typer.echo(
        f"rebuilt {', '.join(result.projections)}: {result.events:,} events, {result.rows_written:,} rows written "
        f"in {result.seconds:.1f}s ({result.events_per_second:,.0f} events/s)"
    )


@app.command("status")
def status_command() -> None:
    """How far behind the event store each projection is."""
    from conectapro.command_support import database_for_command, load_settings

    with database_for_command(load_settings()) as database_url:
        lags = asyncio.run(_status(database_url))
    for lag in lags:
        typer.echo(
            f"{lag.projection:15} position {lag.checkpoint_position:>10,}  "
            f"behind {lag.events:>8,} events / {lag.seconds:,.1f}s"
        )
