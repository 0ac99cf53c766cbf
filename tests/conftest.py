"""Session-wide real infrastructure: PostgreSQL and NATS JetStream, embedded unless the env names them.

With ``DATABASE_URL`` / ``NATS_URL`` set, tests use those servers; otherwise the same embedded launcher
as ``conectapro run`` starts real servers from pip-installed binaries in a temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from hypothesis import HealthCheck, settings
from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError

from contracts.subjects import DEADLETTER_STREAM, INBOUND_STREAM
from infra.embedded import EmbeddedNats, EmbeddedPostgres
from infra.jetstream import connect
from infra.logging import configure_logging

# The same JSON lines as production, so tests can check what a log line reveals.
configure_logging("INFO", "json")

# A property test fails on a wrong answer, never because a loaded machine ran one example slowly.
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")

#: The suites, one folder and one marker each: ``pytest -m unit`` selects exactly the tests of tests/unit.
SUITES = ("unit", "integration", "e2e", "browser")


def suite_of(item: pytest.Item) -> str:
    """The suite a test belongs to: the folder under tests/ it lives in."""
    relative = item.path.relative_to(Path(__file__).parent)
    suite = relative.parts[0]
    if suite not in SUITES:
        raise pytest.UsageError(f"{item.nodeid}: a test lives in one of tests/{{{','.join(SUITES)}}}")
    return suite


def needs_servers(item: pytest.Item) -> bool:
    """Whether a test depends, directly or through other fixtures, on the suite's servers."""
    return isinstance(item, pytest.Function) and "infra" in item.fixturenames


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # tryfirst: the markers must be on the items before `-m` deselects by them.
    for item in items:
        suite = suite_of(item)
        item.add_marker(suite)
        if suite == "unit" and needs_servers(item):
            raise pytest.UsageError(f"{item.nodeid}: a unit test starts no server (it asks for `infra`)")


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


def with_database(dsn: str, database: str) -> str:
    """``dsn`` with its database name replaced."""
    head, _, _ = dsn.rpartition("/")
    return f"{head}/{database}"


async def admin(infra: Infra, sql: str) -> None:
    """Run ``sql`` on the server's default database (CREATE / DROP DATABASE)."""
    connection = await asyncpg.connect(infra.pg_dsn)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
async def fresh_database(infra: Infra) -> AsyncIterator[str]:
    """An empty database of its own for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    await admin(infra, f'CREATE DATABASE "{name}"')
    yield with_database(infra.pg_dsn, name)
    await admin(infra, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def migrated_database(fresh_database: str) -> str:
    """A fresh database with every migration applied."""
    from conectapro.migrations import migrate

    await migrate(fresh_database)
    return fresh_database


@pytest.fixture
async def nats_client(infra: Infra) -> AsyncIterator[NATS]:
    """A connection to the session's NATS with the ConectaPro streams removed, so each test starts empty."""
    nc = await connect(infra.nats_url, "test")
    js = nc.jetstream()
    for stream in (INBOUND_STREAM, DEADLETTER_STREAM):
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(stream)
    yield nc
    await nc.close()
