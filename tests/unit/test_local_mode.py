"""Local mode's addresses: on one host by default; named by LOCAL_WEBHOOK_URL / LOCAL_SANDBOX_URL when the
sandbox, the simulator and the ingress run in separate containers (the compose local trial)."""

from __future__ import annotations

from pathlib import Path

from conectapro.local_mode import local_webhook, simulator_config
from infra.settings import Environment, Settings


def settings(tmp_path: Path, webhook: str | None = None, sandbox: str | None = None) -> Settings:
    return Settings(
        conectapro_env=Environment.LOCAL, conectapro_data_dir=tmp_path, whatsapp_app_secret="s3cret",
        ingress_host="127.0.0.1", ingress_port=8080, sandbox_port=8082,
        local_webhook_url=webhook, local_sandbox_url=sandbox,
    )  # fmt: skip


def test_on_one_host_the_sandbox_and_the_simulator_use_this_hosts_ports(tmp_path: Path) -> None:
    local = settings(tmp_path)
    assert local_webhook(local) == ("http://127.0.0.1:8080/webhook", "s3cret")
    assert simulator_config(local).sandbox_url == "http://127.0.0.1:8082"


def test_in_separate_containers_they_use_the_addresses_the_settings_name(tmp_path: Path) -> None:
    compose = settings(tmp_path, webhook="http://ingress:8080/webhook", sandbox="http://sender:8082")
    assert local_webhook(compose) == ("http://ingress:8080/webhook", "s3cret")
    config = simulator_config(compose)
    assert (config.webhook_url, config.sandbox_url) == ("http://ingress:8080/webhook", "http://sender:8082")
