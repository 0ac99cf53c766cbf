"""Versioned SQL migrations, applied in order, once, by whichever process gets there first.

Layout: a migration directory holds ``NNNN_description.sql`` files, applied in file-name order. The
event store's own directory (``eventstore/sql``) always comes first; other packages (projections, the
closer, ...) keep theirs beside their code and pass them as ``extra_dirs``, applied after it, in the order
given. Each applied file is recorded in ``schema_migrations`` under ``<namespace>/<file name>`` where the
namespace is the name of the package folder that holds the ``sql`` directory (``eventstore``,
``projections``), so two packages may both have a ``0001_....sql``.

A migration is immutable once applied: its checksum is recorded and a changed file is refused instead of
silently diverging from the database. Everything pending is applied in ONE transaction that first takes a
transaction-level advisory lock, so two processes starting at once serialise: the second waits, then finds
nothing left to do; a failing migration leaves the database as it was.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from eventstore.pool import AnyConnection

EVENTSTORE_SQL_DIR = Path(__file__).parent / "sql"

# Any constant works as long as every process uses the same one: it names "the migration lock".
_ADVISORY_LOCK_KEY = 0x436F6E65_6374614D  # "ConectaM"
_FILE_NAME = re.compile(r"^\d{4}_[A-Za-z0-9_]+\.sql$")

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    migration  text        PRIMARY KEY,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """A migration directory is malformed, or an applied migration was edited afterwards."""


@dataclass(frozen=True)
class Migration:
    name: str  # "<namespace>/<file name>", the key in schema_migrations
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(extra_dirs: Sequence[Path] = ()) -> list[Migration]:
    """Every migration, in the order it must be applied."""
    migrations: list[Migration] = []
    seen_namespaces: set[str] = set()
    for directory in [EVENTSTORE_SQL_DIR, *extra_dirs]:
        directory = Path(directory).resolve()
        namespace = directory.parent.name
        if namespace in seen_namespaces:
            raise MigrationError(f"two migration directories share the namespace {namespace!r}: {directory}")
        seen_namespaces.add(namespace)
        if not directory.is_dir():
            raise MigrationError(f"migration directory {directory} does not exist")
        for path in sorted(directory.glob("*.sql")):
            if not _FILE_NAME.match(path.name):
                raise MigrationError(f"{path}: migration files are named NNNN_description.sql")
            migrations.append(Migration(f"{namespace}/{path.name}", path))
    return migrations


async def apply_migrations(
    target: str | asyncpg.Pool[Any] | asyncpg.Connection[Any],
    *,
    extra_dirs: Sequence[Path] = (),
) -> list[str]:
    """Apply every pending migration; returns the names applied now (empty when up to date)."""
    migrations = discover(extra_dirs)
    if isinstance(target, str):
        conn = await asyncpg.connect(target)
        try:
            return await _apply(conn, migrations)
        finally:
            await conn.close()
    if isinstance(target, asyncpg.Pool):
        async with target.acquire() as pooled:
            return await _apply(pooled, migrations)
    return await _apply(target, migrations)


async def _apply(conn: AnyConnection, migrations: list[Migration]) -> list[str]:
    applied_now: list[str] = []
    async with conn.transaction():
        # Held until commit: a second process blocks here and then sees the ledger we wrote.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _ADVISORY_LOCK_KEY)
        await conn.execute(_CREATE_LEDGER)
        rows = await conn.fetch("SELECT migration, checksum FROM schema_migrations")
        recorded = {row["migration"]: row["checksum"] for row in rows}
        for migration in migrations:
            checksum = migration.checksum
            if migration.name in recorded:
                if recorded[migration.name] != checksum:
                    raise MigrationError(
                        f"{migration.name} was changed after it was applied; add a new migration instead"
                    )
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (migration, checksum) VALUES ($1, $2)", migration.name, checksum
            )
            applied_now.append(migration.name)
    return applied_now
