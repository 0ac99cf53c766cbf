"""Every package's migration directory, for ``apply_migrations(dsn, extra_dirs=all_migration_dirs())``.

The event store's own directory always comes first (``eventstore.migrations`` adds it); the packages below
keep theirs beside their code as ``<package>/sql`` and are applied after it, in this order.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import structlog

log = structlog.get_logger("migrations")

#: Packages that may own a ``sql`` directory of migrations (namespace = package name).
MIGRATING_PACKAGES: tuple[str, ...] = ("projections", "closer", "privacy")


def all_migration_dirs() -> list[Path]:
    """The ``sql`` directory of every package in :data:`MIGRATING_PACKAGES` that has one."""
    found: list[Path] = []
    for package in MIGRATING_PACKAGES:
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec is not None else []:
            directory = Path(location) / "sql"
            if directory.is_dir():
                found.append(directory)
    return found


async def migrate(database_url: str) -> list[str]:
    """Apply every pending migration of every package (event store first); idempotent."""
    from eventstore.migrations import apply_migrations

    applied = await apply_migrations(database_url, extra_dirs=all_migration_dirs())
    log.info("migrations_checked", applied=applied)
    return applied
