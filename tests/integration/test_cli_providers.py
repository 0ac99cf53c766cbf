"""`conectapro providers` against a real PostgreSQL: operators register and manage technicians."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from conectapro.cli import app
from conectapro.providers_cli import app as providers_app

runner = CliRunner()
app.add_typer(providers_app, name="providers")


@pytest.fixture
def database(migrated_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> str:
    monkeypatch.setenv("DATABASE_URL", migrated_database)
    monkeypatch.setenv("CONECTAPRO_DATA_DIR", str(tmp_path))
    return migrated_database


def test_a_technician_is_registered_listed_and_deactivated(database: str) -> None:
    added = runner.invoke(
        app,
        ["providers", "add", "--name", "Pedro Soto", "--phone", "+56 987654321", "--services", "Gasfiteria",
         "--comunas", "nunoa,Macul", "--capacity", "3"],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "comunas=Macul,Ñuñoa" in added.stdout
    provider_id = added.stdout.split()[1]

    listed = runner.invoke(app, ["providers", "list"])
    assert "Pedro Soto" in listed.stdout and "jobs=0/3" in listed.stdout

    deactivated = runner.invoke(app, ["providers", "deactivate", provider_id])
    assert deactivated.exit_code == 0, deactivated.output
    assert "inactive" in runner.invoke(app, ["providers", "list"]).stdout


def test_registering_a_number_again_changes_nothing_or_is_refused_with_a_reason(database: str) -> None:
    args = ["providers", "add", "--name", "Ana", "--phone", "56955554444", "--services", "Cerrajeria",
            "--comunas", "Providencia"]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0

    same = runner.invoke(app, args)
    different = runner.invoke(app, [*args[:-1], "Macul"])

    assert (same.exit_code, "already registered, unchanged" in same.stdout) == (0, True)
    assert different.exit_code == 1
    assert "already registered" in different.output


def test_an_unknown_comuna_is_refused_not_guessed(database: str) -> None:
    result = runner.invoke(
        app, ["providers", "add", "--name", "Ana", "--phone", "56955554444", "--services", "Cerrajeria",
              "--comunas", "Gotham"],
    )  # fmt: skip

    assert result.exit_code != 0
    assert "Gotham" in result.output
