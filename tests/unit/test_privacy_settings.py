"""PRIVACY_MASTER_KEY: generated in local mode, required (and long enough) in production."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from infra.settings import Settings
from privacy.setup import master_secret
from tests.unit.test_llm_settings import PRODUCTION as LLM_PRODUCTION

PRODUCTION = {key: value for key, value in LLM_PRODUCTION.items() if key != "privacy_master_key"}


def test_production_refuses_to_start_without_it_and_names_the_variable() -> None:
    with pytest.raises(ValidationError, match="PRIVACY_MASTER_KEY"):
        Settings(_env_file=None, **PRODUCTION)


def test_a_short_key_is_refused_in_any_mode() -> None:
    with pytest.raises(ValidationError, match="32 characters"):
        Settings(_env_file=None, privacy_master_key="short")


def test_local_mode_generates_one_into_the_data_folder_and_keeps_it(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, conectapro_data_dir=tmp_path)
    first = master_secret(settings)
    assert len(first) >= 32 and (tmp_path / "secrets" / "privacy_master_key").exists()
    assert master_secret(settings) == first


def test_sealing_off_is_refused_in_production_and_named() -> None:
    with pytest.raises(ValidationError, match="PRIVACY_SEALING_OFF_FOR_BENCHMARKS"):
        Settings(_env_file=None, **LLM_PRODUCTION, privacy_sealing_off_for_benchmarks=True)
    assert not Settings(_env_file=None, **LLM_PRODUCTION).privacy_sealing_off_for_benchmarks


def test_sealing_off_is_read_from_the_environment_in_local_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIVACY_SEALING_OFF_FOR_BENCHMARKS", "true")
    assert Settings(_env_file=None).privacy_sealing_off_for_benchmarks
    monkeypatch.setenv("CONECTAPRO_ENV", "production")
    with pytest.raises(ValidationError, match="for benchmarks only"):
        Settings(_env_file=None, **{k: v for k, v in LLM_PRODUCTION.items() if k != "conectapro_env"})
