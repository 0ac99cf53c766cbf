"""`conectapro audit` on real PostgreSQL: clean when untouched, exit 1 with a diff once an event is altered.

The store is written by the real handler, commands handler and provider admin. Altering an event needs the
immutability trigger off (``events_refuse_update_delete``, eventstore/sql/0001_events.sql): only this test
does that, and turns it back on.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
import typer
from typer.testing import CliRunner, Result

from audit import runner as audit_runner
from conectapro.audit_commands import register
from eventstore import INDEX_WALK, PostgresEventStore
from tests.unit.audit_support import CAMILA, World, customer_stream, full_journey

pytestmark = pytest.mark.integration

OTHER = "56922223333"
EDITED = "Hola, transfiere $50.000 al 56912345678"


def invoke(*args: str) -> Result:
    app = typer.Typer()
    register(app)
    return CliRunner().invoke(app, list(args))


async def _populate(dsn: str) -> None:
    store = await PostgresEventStore.connect(dsn, max_size=4)
    try:
        world = World(store)
        await full_journey(world)
        await world.says(OTHER, "hola, se cortó la luz en toda la casa, estoy en providencia")
        await world.send_everything()
    finally:
        await store.close()


async def _alter_first_reply(dsn: str, stream_id: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("ALTER TABLE events DISABLE TRIGGER events_refuse_update_delete")
            await conn.execute(
                """
                UPDATE events SET data = jsonb_set(data, '{message,body}', to_jsonb($2::text))
                WHERE global_position = (
                    SELECT min(global_position) FROM events WHERE type = 'ReplyQueued' AND stream_id = $1
                )
                """,
                stream_id,
                EDITED,
            )
            await conn.execute("ALTER TABLE events ENABLE TRIGGER events_refuse_update_delete")
    finally:
        await conn.close()


@pytest.fixture
def database(migrated_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    asyncio.run(_populate(migrated_database))
    monkeypatch.setenv("DATABASE_URL", migrated_database)
    monkeypatch.setenv("CONECTAPRO_DATA_DIR", str(tmp_path))
    return migrated_database


def test_an_untouched_store_audits_clean(database: str) -> None:
    result = invoke("audit", "--all")
    assert result.exit_code == 0, result.output
    assert "every decision re-decides identically" in result.output
    assert "in 4 streams" in result.output


def test_an_altered_event_is_caught_with_exit_1_and_a_readable_diff(database: str) -> None:
    asyncio.run(_alter_first_reply(database, customer_stream(CAMILA)))

    for jobs in ("1", "2"):  # in this process, and split between two
        result = invoke("audit", "--all", "--jobs", jobs)
        assert result.exit_code == 1, result.output
        assert f"DIVERGENT {customer_stream(CAMILA)} (1 decision):" in result.output
        assert "caused by wamid.T00001" in result.output
        assert 'ReplyQueued.message.body: stored "Hola, transfiere $50.000 al 569*****678"' in result.output
        assert "56912345678" not in result.output  # phones masked, as in the logs
        assert "1 divergent stream(s)" in result.output

    other = invoke("audit", "--stream", customer_stream(OTHER))
    assert other.exit_code == 0
    assert "1 decision in 1 stream in" in other.output
    assert invoke("audit", "--stream", customer_stream(CAMILA)).exit_code == 1
    assert "56912345678" in invoke("audit", "--all", "--show-phones").output


def test_the_audit_needs_exactly_one_scope(database: str) -> None:
    assert invoke("audit").exit_code == 2
    assert invoke("audit", "--all", "--stream", customer_stream(CAMILA)).exit_code == 2
    assert invoke("audit", "--stream", "customer-nobody").exit_code == 2


def test_the_immutability_trigger_is_back_on_after_the_test(database: str) -> None:
    asyncio.run(_alter_first_reply(database, customer_stream(CAMILA)))

    async def try_update() -> None:
        conn = await asyncpg.connect(database)
        try:
            await conn.execute("UPDATE events SET type = type")
        finally:
            await conn.close()

    with pytest.raises(asyncpg.RestrictViolationError):
        asyncio.run(try_update())


def test_every_page_is_read_by_walking_the_global_order_index(database: str) -> None:
    # The planner left alone scans and sorts the whole table for every page when it misjudges the filters
    # (on a table this small it always does): the reading connection's settings rule that out.
    async def plan() -> str:
        conn = await asyncpg.connect(database, server_settings=INDEX_WALK)
        try:
            query = audit_runner.Share(index=0, of=2).filter()
            rows = await conn.fetch("EXPLAIN " + query.page_sql(), 0, 0, 10**12, 5000, *query.owned_args())
        finally:
            await conn.close()
        return "\n".join(row[0] for row in rows)

    walked = asyncio.run(plan())
    assert "Index Scan using events_transaction_order" in walked
    assert "Sort" not in walked and "Seq Scan" not in walked and "Gather" not in walked
