"""`conectapro privacy`: a person's rights over their personal data (Chile's Law 21.719) — export, erasure —
and the record of every request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from contracts.privacy_events import ErasureOutcome

if TYPE_CHECKING:
    from eventstore import PostgresEventStore
    from infra.settings import Settings
    from privacy.setup import Privacy

app = typer.Typer(help="Personal data: export or erase a person's; the record of requests.", no_args_is_help=True)

#: ``privacy export`` exit code when the phone is not known (never seen, or forgotten).
EXIT_NOT_KNOWN = 1
T = TypeVar("T")

Phone = Annotated[str, typer.Option("--phone", help="The person's WhatsApp number, e.g. 56987654321")]


def _phone(text: str) -> str:
    from conectapro.data_export import requested_phone

    digits = requested_phone(text)
    if digits is None:
        raise typer.BadParameter("not a WhatsApp number: 8 to 15 digits with the country code", param_hint="--phone")
    return digits


def _on_store(settings: Settings, work: Callable[[PostgresEventStore, Privacy], Awaitable[T]]) -> T:
    """Run ``work`` against the store (migrated, sealing personal fields) of the command's database."""
    from conectapro.command_support import database_for_command

    async def run(database_url: str) -> T:
        from conectapro.migrations import all_migration_dirs
        from eventstore import PostgresEventStore, apply_migrations
        from privacy.setup import protect

        await apply_migrations(database_url, extra_dirs=all_migration_dirs())
        store = await PostgresEventStore.connect(database_url, min_size=1, max_size=2)
        try:
            return await work(store, protect(store, settings))
        finally:
            await store.close()

    with database_for_command(settings) as database_url:
        return asyncio.run(run(database_url))


@app.command("export")
def export_command(
    phone: Phone,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the JSON here, not to stdout")] = None,
) -> None:
    """Everything held about the person, as one JSON document (access and portability). Exit code 1 when the
    phone is not known (never seen, or forgotten); the request is recorded either way."""
    from conectapro.command_support import load_settings
    from conectapro.data_export import export
    from infra.clock import utc_now

    digits = _phone(phone)
    settings = load_settings()
    done = _on_store(settings, lambda store, privacy: export(store, privacy, digits, requested_by="cli", now=utc_now))
    if done.document is None:
        typer.echo(f"nothing to export: this phone is not known (never seen, or forgotten) [request {done.request_id}]",
                   err=True)  # fmt: skip
        raise typer.Exit(EXIT_NOT_KNOWN)
    text = json.dumps(done.document, ensure_ascii=False, indent=2)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
    counts = done.document["counts"]
    typer.echo(f"exported person {done.person_key}: {counts['leads']} leads, {counts['messages_in']} messages in, "
               f"{counts['messages_out']} out [request {done.request_id}]", err=True)  # fmt: skip


@app.command("forget")
def forget_command(
    phone: Phone,
    force: Annotated[bool, typer.Option("--force", help="Forget even while a job is in progress")] = False,
) -> None:
    """Destroy the person's key and phone mapping and delete their JetStream messages (idempotent)."""
    from conectapro.command_support import load_settings
    from conectapro.infrastructure import running_stack

    digits = _phone(phone)
    settings = load_settings()
    _, nats_url = running_stack(settings)

    async def run(store: PostgresEventStore, privacy: Privacy) -> str:
        from conectapro.erasure import forget
        from infra.clock import utc_now
        from infra.jetstream import connect

        nc = await connect(nats_url, "privacy-cli") if nats_url else None
        try:
            js = nc.jetstream() if nc is not None else None
            erasure = await forget(store, privacy, js, digits, requested_by="cli", force=force, now=utc_now)
        finally:
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

    typer.echo(_on_store(settings, run))


@app.command("requests")
def requests_command(
    since: Annotated[str | None, typer.Option("--since", help="Only from this day on (YYYY-MM-DD, UTC)")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most this many (default: every one)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """Every export and erasure request and what was done (no personal data): the proof they were answered.
    Read a page at a time from --since on, never the whole record at once."""
    from conectapro.command_support import load_settings
    from conectapro.privacy_requests import MAX_PAGE, PrivacyRequest, pending_technician_requests, privacy_requests

    try:
        start = datetime.strptime(since, "%Y-%m-%d").replace(tzinfo=UTC) if since else None
    except ValueError as error:
        raise typer.BadParameter("a day as YYYY-MM-DD", param_hint="--since") from error

    def echo(r: PrivacyRequest) -> None:
        if as_json:
            typer.echo(json.dumps({**vars(r), "at": r.at.isoformat(), "asked_at": r.asked_at.isoformat()}))
        else:
            asked = f" (asked {r.asked_at:%Y-%m-%d %H:%M:%S})" if r.asked_at != r.at else ""
            typer.echo(f"{r.at:%Y-%m-%d %H:%M:%S} UTC  {r.kind:<8} {r.outcome:<24} by {r.requested_by:<12} "
                       f"{r.person_key or '-':<22} {r.detail}{asked}  [{r.request_id}]")  # fmt: skip

    async def listed(store: PostgresEventStore, _: Privacy) -> int:
        shown, after = 0, 0
        while limit is None or shown < limit:
            page = await privacy_requests(store, since=start, after=after, limit=MAX_PAGE)
            for r in page.items[: None if limit is None else limit - shown]:
                echo(r)
                shown += 1
            if page.next_after is None:
                break
            after = page.next_after
        # Technicians' WhatsApp requests an admin has not answered yet (not in the record until answered).
        for r in await pending_technician_requests(store):
            if (start is None or r.at >= start) and (limit is None or shown < limit):
                echo(r)
                shown += 1
        return shown

    shown = _on_store(load_settings(), listed)
    if not as_json:
        typer.echo(f"{shown} requests", err=True)
