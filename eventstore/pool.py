"""asyncpg pools for the event store: jsonb decoded by orjson.

The stock asyncpg jsonb codec returns ``str``, and decoding that with the ``json`` module is what caps
reading. Here the text-format codec hands the column straight to ``orjson.loads`` (a C function: no Python
frame per value, unlike a binary-format codec that has to strip jsonb's version byte in Python). Every
connection the store uses must have this codec: build the pool with :func:`create_pool`, or pass
``init=init_connection`` to ``asyncpg.create_pool``.

Note: by default asyncpg resets every connection it takes back (``RESET ALL; UNLISTEN *; ...``), one
more round trip after each ``pool.fetchrow``, a visible share of a single append and of the orchestrator's
time per message. A pool whose borrowers never leave session state behind (single statements and
transactions, ``SET LOCAL`` only, no session advisory locks) is built with ``reset_sessions=False``: an
open transaction is still rolled back on release (asyncpg always does that), the round trip is skipped.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg
import orjson

# What asyncpg hands out: a plain connection, or the proxy of one borrowed from a pool.
AnyConnection: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def init_connection(conn: asyncpg.Connection[Any]) -> None:
    """Register the orjson codecs for jsonb and json on one connection."""
    for json_type in ("jsonb", "json"):
        await conn.set_type_codec(json_type, schema="pg_catalog", encoder=_dumps, decoder=orjson.loads,
                                  format="text")


class _SessionKeepingConnection(asyncpg.Connection):
    """A connection released to its pool without the session reset query (see the module note)."""

    def get_reset_query(self) -> str:
        return ""


async def create_pool(
    dsn: str, *, min_size: int = 2, max_size: int = 10, reset_sessions: bool = True, **kwargs: Any
) -> asyncpg.Pool[Any]:
    """An asyncpg pool whose connections speak jsonb through orjson."""
    if not reset_sessions:
        kwargs["connection_class"] = _SessionKeepingConnection
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=init_connection, **kwargs)
    assert pool is not None  # asyncpg's stubs allow None only for a pool that is never awaited
    return pool
