"""`conectapro privacy forget`: erasure of one person's personal data (Chile's Law 21.719)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from contracts.privacy_events import ErasureOutcome

app = typer.Typer(help="Personal data: erase a person's (crypto-shredding).", no_args_is_help=True)


@app.command("forget")
def forget_command(
    phone: Annotated[str, typer.Option("--phone", help="The person's WhatsApp number, e.g. 56987654321")],
    force: Annotated[bool, typer.Option("--force", help="Forget even while a job is in progress")] = False,
) -> None:
    """Destroy the person's key and phone mapping and delete their JetStream messages (idempotent)."""
    from conectapro.command_support import database_for_command, load_settings
    from conectapro.infrastructure import running_stack

    settings = load_settings()
    _, nats_url = running_stack(settings)

    async def run(database_url: str) -> str:
        from conectapro.erasure import forget
        from conectapro.migrations import all_migration_dirs
        from eventstore import PostgresEventStore, apply_migrations
        from infra.clock import utc_now
        from infra.jetstream import connect
        from privacy.setup import protect

        await apply_migrations(database_url, extra_dirs=all_migration_dirs())
        store = await PostgresEventStore.connect(database_url, min_size=1, max_size=2)
        nc = await connect(nats_url, "privacy-cli") if nats_url else None
        try:
            js = nc.jetstream() if nc is not None else None
            erasure = await forget(store, protect(store, settings), js, phone, requested_by="cli", force=force,
                                   now=utc_now)  # fmt: skip
        finally:
            await store.close()
            if nc is not None:
                await nc.close()
        if erasure.outcome == ErasureOutcome.REFUSED_JOB_IN_PROGRESS:
            raise typer.BadParameter(f"person {erasure.person_key} has a job in progress: not forgotten (--force)")
        if erasure.outcome == ErasureOutcome.ALREADY_FORGOTTEN:
            return "nothing to forget: this phone is not known (never seen, or forgotten before)"
        removed = erasure.jetstream_messages_removed
        jetstream = f"{removed} JetStream messages deleted" if nc is not None else "JetStream not reached"
        return (
            f"forgot person {erasure.person_key}: key and phone mapping destroyed; personal fields of "
            f"{', '.join(erasure.streams)} now read [suprimido]; {jetstream}"
        )

    with database_for_command(settings) as database_url:
        typer.echo(asyncio.run(run(database_url)))
