"""`conectapro privacy export` and `conectapro privacy requests` against a real PostgreSQL: the document on
stdout, exit codes for an unknown phone (1) and a malformed one (2), and the record of requests."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from conectapro.privacy_cli import app
from eventstore import PostgresEventStore
from tests.integration.privacy_support import PRIVACY_MASTER_KEY, PeopleWorld, protected

pytestmark = pytest.mark.integration

runner = CliRunner()
CAMILA = "56911110001"


async def invoke(args: list[str]) -> Result:
    # In a thread: the command runs its own event loop, as it does from a shell.
    return await asyncio.to_thread(runner.invoke, app, args)


@pytest.fixture
def environment(read_models_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", read_models_database)
    monkeypatch.setenv("CONECTAPRO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PRIVACY_MASTER_KEY", PRIVACY_MASTER_KEY)
    monkeypatch.delenv("NATS_URL", raising=False)


async def test_export_prints_the_document_and_requests_lists_what_was_asked(
    store: PostgresEventStore, environment: None, tmp_path: Path
) -> None:
    world = PeopleWorld(store, protected(store), {CAMILA: "Camila Rojas"})
    await world.says(CAMILA, "hola, se me rompió la cañería, estoy en ñuñoa")

    exported = await invoke(["export", "--phone", "+56 9 1111 0001"])
    assert exported.exit_code == 0, exported.output
    document = json.loads(exported.stdout)
    assert document["person"]["whatsapp_names"] == ["Camila Rojas"] and document["counts"]["messages_in"] == 1
    assert "exported person" in exported.stderr and document["request_id"] in exported.stderr

    to_file = await invoke(["export", "--phone", CAMILA, "--output", str(tmp_path / "camila.json")])
    assert to_file.exit_code == 0 and to_file.stdout == ""
    assert json.loads((tmp_path / "camila.json").read_text())["counts"]["leads"] == 1

    unknown = await invoke(["export", "--phone", "56900000000"])
    assert (unknown.exit_code, unknown.stdout) == (1, "")
    assert "not known" in unknown.stderr
    malformed = await invoke(["export", "--phone", "hola"])
    assert malformed.exit_code == 2 and "WhatsApp number" in malformed.output

    listed = await invoke(["requests"])
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert [line.split()[3:5] for line in lines] == [["export", "exported"]] * 2 + [["export", "not_known"]]
    assert CAMILA not in listed.stdout
    as_json = [json.loads(line) for line in (await invoke(["requests", "--json"])).stdout.splitlines()]
    assert as_json[0]["request_id"] == document["request_id"] and as_json[0]["requested_by"] == "cli"
    assert (await invoke(["requests", "--since", "2999-01-01"])).stdout == ""
    assert (await invoke(["requests", "--limit", "2"])).stdout.splitlines() == lines[:2]
    assert (await invoke(["requests", "--since", "ayer"])).exit_code == 2
