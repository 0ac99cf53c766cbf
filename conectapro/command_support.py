"""What every one-shot command needs: validated settings and a database to talk to."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer

from conectapro.infrastructure import running_stack, start_infrastructure
from infra.logging import configure_logging
from infra.settings import Settings, SettingsError, settings_from_environment


def load_settings() -> Settings:
    """The validated settings; a refused value ends the command with exit code 2, naming its variable."""
    try:
        settings = settings_from_environment()
    except SettingsError as error:
        typer.echo(f"configuration error: {error}", err=True)
        raise typer.Exit(2) from error
    configure_logging(settings.log_level, settings.log_format)
    return settings


@contextlib.contextmanager
def database_for_command(settings: Settings) -> Iterator[str]:
    """DATABASE_URL, else the running local stack's, else an embedded server for this command only."""
    database_url, _ = running_stack(settings)
    if database_url:
        yield database_url
        return
    local = settings.model_copy(update={"nats_url": "unused"})
    infra = start_infrastructure(local)
    try:
        yield infra.database_url
    finally:
        infra.stop()
