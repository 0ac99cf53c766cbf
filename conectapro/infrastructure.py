"""Where PostgreSQL and NATS are: the servers named by the environment, or embedded ones we start."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from infra.embedded import EmbeddedNats, EmbeddedPostgres
from infra.settings import Settings

log = structlog.get_logger(__name__)

RUNTIME_FILE = "runtime.json"


@dataclass
class Infrastructure:
    database_url: str
    nats_url: str
    embedded_postgres: EmbeddedPostgres | None = None
    embedded_nats: EmbeddedNats | None = None
    _runtime_file: Path | None = field(default=None, repr=False)

    def stop(self) -> None:
        if self.embedded_nats is not None:
            self.embedded_nats.stop()
        if self.embedded_postgres is not None:
            self.embedded_postgres.stop()
        if self._runtime_file is not None:
            self._runtime_file.unlink(missing_ok=True)
        if self.embedded_nats is not None or self.embedded_postgres is not None:
            log.info("embedded_infrastructure_stopped")


def start_infrastructure(settings: Settings) -> Infrastructure:
    """Start whatever the environment does not provide. Call from the main thread.

    The embedded servers are told to die with the thread that started them, so a crash leaves no orphan.
    """
    data_dir = settings.conectapro_data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    infra = Infrastructure(database_url=settings.database_url or "", nats_url=settings.nats_url or "")
    try:
        if not settings.database_url:
            infra.embedded_postgres = EmbeddedPostgres(data_dir / "postgres")
            infra.database_url = infra.embedded_postgres.start()
        if not settings.nats_url:
            infra.embedded_nats = EmbeddedNats(data_dir / "nats")
            infra.nats_url = infra.embedded_nats.start()
    except BaseException:
        infra.stop()
        raise
    if infra.embedded_postgres or infra.embedded_nats:
        infra._runtime_file = data_dir / RUNTIME_FILE
        infra._runtime_file.write_text(
            json.dumps({"pid": os.getpid(), "database_url": infra.database_url, "nats_url": infra.nats_url})
        )
    return infra


def running_stack(settings: Settings) -> tuple[str | None, str | None]:
    """The URLs of a `conectapro run` already up on this data folder, for one-shot commands."""
    path = settings.conectapro_data_dir.resolve() / RUNTIME_FILE
    if not path.exists():
        return settings.database_url, settings.nats_url
    runtime = json.loads(path.read_text())
    try:
        os.kill(int(runtime["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return settings.database_url, settings.nats_url
    return settings.database_url or runtime.get("database_url"), settings.nats_url or runtime.get("nats_url")
