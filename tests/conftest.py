"""Session-wide real infrastructure: PostgreSQL and NATS JetStream, embedded unless the env names them.

With ``DATABASE_URL`` / ``NATS_URL`` set, tests use those servers; otherwise the same embedded launcher
as ``conectapro run`` starts real servers from pip-installed binaries in a temporary folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from infra.embedded import EmbeddedNats, EmbeddedPostgres
from infra.logging import configure_logging

# The same JSON lines as production, so tests can check what a log line reveals.
configure_logging("INFO", "json")


@dataclass
class Infra:
    pg_dsn: str
    nats_url: str
    nats: EmbeddedNats | None  # None when NATS_URL points at an external server (cannot be restarted)

    def stop_nats(self) -> None:
        if self.nats is None:
            pytest.skip("NATS_URL is external: the suite cannot stop it")
        self.nats.stop()

    def start_nats(self) -> None:
        assert self.nats is not None
        self.nats.start()  # same port and store: clients reconnect to it


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    # Not under pytest's tmp_path: pytest makes /tmp/pytest-of-<user> private (0700) at every session
    # start, and PostgreSQL runs as another user when we are root: it could not reach its data folder.
    base = Path(tempfile.mkdtemp(prefix="conectapro-test-"))
    pg: EmbeddedPostgres | None = None
    nats: EmbeddedNats | None = None
    pg_dsn = os.environ.get("DATABASE_URL")
    nats_url = os.environ.get("NATS_URL")
    try:
        if not pg_dsn:
            pg = EmbeddedPostgres(base / "postgres")
            pg_dsn = pg.start()
        if not nats_url:
            nats = EmbeddedNats(base / "nats")
            nats_url = nats.start()
        yield Infra(pg_dsn=pg_dsn, nats_url=nats_url, nats=nats)
    finally:
        if nats is not None:
            nats.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(base, ignore_errors=True)


def _with_database(dsn: str, database: str) -> str:
    head, _, _ = dsn.rpartition("/")
    return f"{head}/{database}"


@pytest.fixture
async def fresh_database(infra: Infra) -> AsyncIterator[str]:
    """An empty database of its own for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(infra.pg_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield _with_database(infra.pg_dsn, name)
    admin = await asyncpg.connect(infra.pg_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def migrated_database(fresh_database: str) -> str:
    """A fresh database with every migration applied."""
    from conectapro.migrations import migrate

    await migrate(fresh_database)
    return fresh_database
