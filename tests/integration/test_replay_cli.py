"""`conectapro replay STREAM_ID` on real PostgreSQL: the timeline of a conversation written by the handler."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from conectapro.audit_commands import register
from eventstore import PostgresEventStore
from tests.unit.audit_support import CAMILA, World, customer_stream, full_journey

pytestmark = pytest.mark.integration


def invoke(*args: str) -> Result:
    app = typer.Typer()
    register(app)
    return CliRunner().invoke(app, list(args))


async def _populate(dsn: str) -> None:
    store = await PostgresEventStore.connect(dsn, max_size=4)
    try:
        await full_journey(World(store))
    finally:
        await store.close()


@pytest.fixture
def database(migrated_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    asyncio.run(_populate(migrated_database))
    monkeypatch.setenv("DATABASE_URL", migrated_database)
    monkeypatch.setenv("CONECTAPRO_DATA_DIR", str(tmp_path))
    return migrated_database


def test_replay_prints_the_conversation_as_a_timeline_with_phones_masked(database: str) -> None:
    result = invoke("replay", customer_stream(CAMILA))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{customer_stream(CAMILA)} · ")
    assert any(line.startswith("2025-03-03 12:00:00  CUSTOMER Camila (569*****321) wrote") for line in lines)
    assert any("TIMER TimeoutOffer from the closer" in line for line in lines)
    assert any(line.strip().startswith("sent ") for line in lines)
    assert CAMILA not in result.output


def test_replay_shows_phones_when_asked(database: str) -> None:
    assert f"({CAMILA})" in invoke("replay", customer_stream(CAMILA), "--show-phones").output


def test_replaying_a_stream_that_does_not_exist_fails(database: str) -> None:
    result = invoke("replay", "customer-nobody")
    assert result.exit_code == 1
    assert "no events in stream customer-nobody" in result.output
