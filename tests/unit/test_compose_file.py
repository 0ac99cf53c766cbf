"""The compose stack, read statically (no container engine): what `make compose-smoke` runs for real.

It checks what podman-compose 1.0.3 and docker compose both need, what the images really have for their
health checks, that every documented setting reaches the services, and the durability settings."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
LOCAL_ENV = ROOT / "deploy" / "local.env"
APP_SERVICES = {"ingress", "orchestrator", "sender", "closer", "projections", "operator_api", "llm_adapter"}
#: Fixed inside the containers (the published host ports are the variables).
FIXED_INSIDE = {"INGRESS_HOST", "INGRESS_PORT", "OPERATOR_API_HOST", "OPERATOR_API_PORT", "SANDBOX_PORT"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def local_env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in LOCAL_ENV.read_text().splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def documented_settings() -> set[str]:
    """Every variable of the README's configuration table (`A` / `B` rows and `_SUFFIX` shorthands too)."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for row in table.splitlines():
        if not row.startswith("| `"):
            continue
        first_cell = row.split("|")[1]
        found = re.findall(r"`([A-Z0-9_]+)`", first_cell)
        for name in found:
            if name.startswith("_"):  # `CLOSER_FOLLOW_UP_HOURS_HOY` / `_1_2_DIAS`: the prefix of the first
                name = re.sub(r"_[A-Z]+$", "", found[0]) + name
            names.add(name)
    return names


def test_the_stack_has_the_infrastructure_migrations_and_every_service(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"postgres", "nats", "migrate", *APP_SERVICES}
    for name in APP_SERVICES | {"migrate"}:
        assert compose["services"][name]["build"]["dockerfile"] == "deploy/Dockerfile"


def test_every_service_the_command_line_knows_runs_in_compose(compose: dict[str, Any]) -> None:
    table = (ROOT / "conectapro" / "service_table.py").read_text()
    registered = set(re.findall(r'register\("([a-z_]+)"', table))
    assert registered, "no service found in conectapro/service_table.py"
    commands = {tuple(service.get("command", [])) for service in compose["services"].values()}
    assert {name for name in registered if ("run", name) not in commands} <= {"sandbox"}


def test_images_are_chosen_by_variables_defaulting_to_the_official_ones(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["postgres"]["image"] == "${POSTGRES_IMAGE:-docker.io/library/postgres:17}"
    # The default nats tag is built from scratch: no shell, no wget for the health check.
    assert services["nats"]["image"] == "${NATS_IMAGE:-docker.io/library/nats:2.11-alpine}"
    build_args = services["ingress"]["build"]["args"]
    assert build_args["PYTHON_IMAGE"] == "${PYTHON_IMAGE:-docker.io/library/python:3.11-slim}"
    dockerfile = DOCKERFILE.read_text()
    base = r"^ARG PYTHON_IMAGE=docker\.io/library/python:3\.11-slim\nFROM \$\{PYTHON_IMAGE\}$"
    assert re.search(base, dockerfile, re.M)


def test_health_checks_use_what_each_image_has(compose: dict[str, Any]) -> None:
    services = compose["services"]
    tests = {name: service["healthcheck"]["test"] for name, service in services.items() if "healthcheck" in service}
    assert set(tests) == {"postgres", "nats", "ingress", "sender", "operator_api"}
    for name, test in tests.items():
        # podman-compose 1.0.3 runs every check through /bin/sh (its CMD form joins the words wrongly).
        assert test[0] == "CMD-SHELL" and len(test) == 2, name
    assert tests["postgres"][1].startswith("pg_isready -h 127.0.0.1 ")
    assert tests["nats"][1].startswith("wget ") and "js-enabled-only=true" in tests["nats"][1]
    for name in ("ingress", "sender", "operator_api"):
        assert "python -c" in tests[name][1], name


def test_every_documented_setting_reaches_the_services(compose: dict[str, Any]) -> None:
    documented = documented_settings()
    assert {"DATABASE_URL", "NATS_URL", "CLOSER_TICK_SECONDS", "CLOSER_FOLLOW_UP_HOURS_1_2_DIAS"} <= documented
    for name in APP_SERVICES:
        environment = compose["services"][name]["environment"]
        assert documented <= set(environment), f"{name} lacks {sorted(documented - set(environment))}"
        for key in FIXED_INSIDE:
            assert environment[key] is not None, key


def test_optional_settings_pass_through_unset_rather_than_empty(compose: dict[str, Any]) -> None:
    """An empty WHATSAPP_ACCESS_TOKEN would count as a token: the sender would never serve the sandbox."""
    environment = compose["x-service"]["environment"]
    for key in ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_PHONE_NUMBER_ID", "LOG_LEVEL", "INBOUND_PARTITIONS"):
        assert environment[key] is None, key
    assert not [value for value in environment.values() if isinstance(value, str) and value.endswith(":-}")]


def test_production_is_the_default_and_the_local_trial_has_what_it_needs(compose: dict[str, Any]) -> None:
    environment = compose["x-service"]["environment"]
    assert environment["CONECTAPRO_ENV"] == "${CONECTAPRO_ENV:-production}"
    required = set(re.findall(r"\$\{([A-Z_]+):\?", COMPOSE.read_text()))
    assert {"POSTGRES_PASSWORD", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "OPERATOR_API_TOKEN"} <= required
    local = local_env()
    assert local["CONECTAPRO_ENV"] == "local"
    assert required <= set(local)
    assert "WHATSAPP_ACCESS_TOKEN" not in local
    # The sandbox (served by the sender in local mode) is published on the host's loopback only.
    assert compose["services"]["sender"]["ports"] == ["127.0.0.1:${SANDBOX_PORT:-8082}:8082"]


def test_the_local_trial_reaches_across_containers(compose: dict[str, Any]) -> None:
    """The sandbox (sender's container) posts statuses to the ingress; the simulator (operator API's) posts to
    the ingress and reads the sandbox: each at a service name and the port fixed inside its container."""
    local, services = local_env(), compose["services"]
    environment = compose["x-service"]["environment"]
    webhook = urlparse(local["LOCAL_WEBHOOK_URL"])
    assert (webhook.hostname, str(webhook.port), webhook.path) == ("ingress", environment["INGRESS_PORT"], "/webhook")
    sandbox = urlparse(local["LOCAL_SANDBOX_URL"])
    assert (sandbox.hostname, str(sandbox.port)) == ("sender", environment["SANDBOX_PORT"])
    assert {webhook.hostname, sandbox.hostname} <= set(services)
    assert local["LLM_ENABLED"] == "false"  # the adapter runs, asked nothing until enabled
    # One set of containers for both: podman-compose 1.0.3 would start a `profiles:` service anyway.
    assert not [name for name, service in services.items() if "profiles" in service]


def test_durability_jetstream_syncs_always_and_postgres_commits_synchronously(compose: dict[str, Any]) -> None:
    conf = (ROOT / "deploy" / "nats-server.conf").read_text()
    assert re.search(r"^\s*sync_interval:\s*always\s*$", conf, re.M)
    assert re.search(r'^\s*store_dir:\s*"/data/', conf, re.M)
    assert any(volume.endswith(":/data") for volume in compose["services"]["nats"]["volumes"])
    command = compose["services"]["postgres"]["command"]
    assert "synchronous_commit=on" in command and "fsync=on" in command
    assert compose["services"]["postgres"]["volumes"] == ["postgres-data:/var/lib/postgresql/data"]


def test_the_image_runs_as_a_user_that_can_write_its_data_folder() -> None:
    dockerfile = DOCKERFILE.read_text()
    assert re.search(r"^USER conectapro$", dockerfile, re.M)
    assert "CONECTAPRO_DATA_DIR=/var/lib/conectapro" in dockerfile
    assert "chown conectapro /var/lib/conectapro" in dockerfile


def test_the_image_holds_every_package_of_the_project() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert not set(packages) & ignored
    assert {".git", ".venv"} <= ignored
    assert "COPY . ." in DOCKERFILE.read_text()


def test_the_stand_ins_keep_the_official_images_interface() -> None:
    standins = ROOT / "deploy" / "standins"
    postgres = (standins / "postgres.Containerfile").read_text()
    assert "ENV PGDATA=/var/lib/postgresql/data" in postgres and 'CMD ["postgres"]' in postgres
    entrypoint = (standins / "postgres.entrypoint.sh").read_text()
    for variable in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"):
        assert variable in entrypoint
    nats = (standins / "nats.Containerfile").read_text()
    assert 'ENTRYPOINT ["nats-server"]' in nats


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_the_smoke_script_parses() -> None:
    subprocess.run(["bash", "-n", str(ROOT / "deploy" / "compose-smoke.sh")], check=True)
