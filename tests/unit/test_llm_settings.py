"""The LLM settings: off by default, and production refuses to turn it on without a real key."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from conectapro.llm_adapter_service import adapter_config
from conectapro.service_table import default_services
from infra.settings import Settings

PRODUCTION: dict[str, Any] = {
    "conectapro_env": "production",
    "database_url": "postgresql://u:p@db/conectapro",
    "nats_url": "nats://nats:4222",
    "whatsapp_app_secret": "a-real-app-secret-0123456789",
    "whatsapp_verify_token": "a-real-verify-token-0123456789",
    "operator_api_token": "a-real-operator-token-0123456789",
    "privacy_master_key": "a-real-privacy-master-key-0123456789",
}


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_the_llm_is_off_by_default_and_run_leaves_the_adapter_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLM_ENABLED", raising=False)
    off = settings()

    assert off.llm_enabled is False and off.llm_timeout_seconds == 3.0
    assert "llm_adapter" not in default_services(off)
    assert "orchestrator" in default_services(off)


def test_with_the_llm_enabled_run_starts_the_adapter_too() -> None:
    assert default_services(settings(llm_enabled=True))[-1] == "llm_adapter"


@pytest.mark.parametrize("key", [None, "", "changeme"])
def test_production_refuses_the_llm_enabled_without_a_real_key(key: str | None) -> None:
    with pytest.raises(ValidationError, match="OPENAI_API_KEY"):
        settings(**PRODUCTION, llm_enabled=True, openai_api_key=key)


def test_production_with_the_llm_enabled_and_a_key_starts() -> None:
    assert settings(**PRODUCTION, llm_enabled=True, openai_api_key="sk-real-key-0123456789").llm_enabled
    assert not settings(**PRODUCTION).llm_enabled  # and off needs no key at all


def test_the_adapter_gets_its_configuration_from_the_settings() -> None:
    config = adapter_config(
        settings(openai_api_key="sk-x", openai_base_url="http://ollama:11434/v1", openai_model="llama3.2",
                 llm_timeout_seconds=2.5, llm_daily_token_budget=1000, llm_customer_calls_per_hour=3)
    )  # fmt: skip

    assert (config.api_key, config.base_url, config.model) == ("sk-x", "http://ollama:11434/v1", "llama3.2")
    assert (config.timeout_seconds, config.daily_token_budget, config.customer_calls_per_hour) == (2.5, 1000, 3)
