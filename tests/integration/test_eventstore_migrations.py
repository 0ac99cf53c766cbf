"""Migrations: ordered, applied once, safe when two processes start together, immutable once applied."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from eventstore.migrations import MigrationError, apply_migrations

pytestmark = pytest.mark.integration

EVENTSTORE_MIGRATIONS = ["eventstore/0001_events.sql"]


async def tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {row["tablename"] for row in rows}


def migration_dir(tmp_path: Path, package: str, files: dict[str, str]) -> Path:
    directory = tmp_path / package / "sql"
    directory.mkdir(parents=True)
    for name, sql in files.items():
        (directory / name).write_text(sql)
    return directory


async def test_migrating_a_fresh_database_creates_the_event_store_tables(fresh_database: str) -> None:
    applied = await apply_migrations(fresh_database)

    assert applied == EVENTSTORE_MIGRATIONS
    assert {"events", "inbox", "checkpoints", "schema_migrations"} <= await tables(fresh_database)


async def test_migrating_again_applies_nothing(fresh_database: str) -> None:
    await apply_migrations(fresh_database)

    assert await apply_migrations(fresh_database) == []


async def test_two_processes_migrating_at_once_apply_each_migration_exactly_once(fresh_database: str) -> None:
    results = await asyncio.gather(*(apply_migrations(fresh_database) for _ in range(4)))

    assert sorted(results) == [[], [], [], EVENTSTORE_MIGRATIONS]


async def test_other_packages_migrations_run_after_the_event_stores_in_file_order(
    fresh_database: str, tmp_path: Path
) -> None:
    extra = migration_dir(tmp_path, "projections", {
        "0002_second.sql": "ALTER TABLE lead_view ADD COLUMN comuna text;",
        "0001_first.sql": "CREATE TABLE lead_view (lead_id text PRIMARY KEY);",
    })

    applied = await apply_migrations(fresh_database, extra_dirs=[extra])

    assert applied == [*EVENTSTORE_MIGRATIONS, "projections/0001_first.sql", "projections/0002_second.sql"]
    assert "lead_view" in await tables(fresh_database)


async def test_a_migration_edited_after_it_was_applied_is_refused(fresh_database: str, tmp_path: Path) -> None:
    extra = migration_dir(tmp_path, "closer", {"0001_timers.sql": "CREATE TABLE timers (id text);"})
    await apply_migrations(fresh_database, extra_dirs=[extra])
    (extra / "0001_timers.sql").write_text("CREATE TABLE timers (id text, due timestamptz);")

    with pytest.raises(MigrationError, match="changed after it was applied"):
        await apply_migrations(fresh_database, extra_dirs=[extra])


async def test_a_failing_migration_leaves_the_database_as_it_was(fresh_database: str, tmp_path: Path) -> None:
    extra = migration_dir(tmp_path, "closer", {
        "0001_ok.sql": "CREATE TABLE timers (id text);",
        "0002_broken.sql": "CREATE TABLE nonsense (",
    })

    with pytest.raises(asyncpg.PostgresSyntaxError):
        await apply_migrations(fresh_database, extra_dirs=[extra])

    assert await tables(fresh_database) == set()


def test_migration_files_must_be_named_with_a_four_digit_prefix(tmp_path: Path) -> None:
    from eventstore.migrations import discover

    extra = migration_dir(tmp_path, "closer", {"timers.sql": "SELECT 1;"})
    with pytest.raises(MigrationError, match="NNNN_description"):
        discover([extra])
