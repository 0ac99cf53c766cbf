"""deploy/k8s (and deploy/k8s/with-llm, the same plus the LLM adapter) renders with kustomize and every object
is valid against the Kubernetes schemas (offline, from the kubernetes-validate package); the cluster-wide
promises are checked on the rendered objects."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

import conectapro.service_table  # noqa: F401 — registers the services
from infra.metrics_server import metrics_port
from infra.runtime import SERVICES
from infra.settings import nats_servers

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZATION = ROOT / "deploy" / "k8s"
WITH_LLM = KUSTOMIZATION / "with-llm"


def _rendered(kustomization: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(kustomization)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return [document for document in yaml.safe_load_all(rendered) if document]


@pytest.fixture(scope="module", params=[KUSTOMIZATION, WITH_LLM], ids=["rules-only", "with-llm"])
def objects(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return _rendered(request.param)


def of_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_every_object_is_valid_against_the_kubernetes_schemas(objects: list[dict[str, Any]]) -> None:
    version = kubernetes_validate.latest_version()
    for document in objects:
        kubernetes_validate.validate(document, version, strict=True)
    assert all(o["metadata"].get("namespace", "conectapro") == "conectapro" for o in objects)


def test_nats_is_a_three_node_cluster_syncing_every_write(objects: list[dict[str, Any]]) -> None:
    nats = of_kind(objects, "StatefulSet")["nats"]["spec"]
    assert nats["replicas"] == 3
    anti = nats["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["topologyKey"] == "kubernetes.io/hostname"
    assert of_kind(objects, "Service")["nats-headless"]["spec"]["clusterIP"] == "None"
    server_conf = of_kind(objects, "ConfigMap")["nats-config"]["data"]["nats-server.conf"]
    assert "sync_interval: always" in server_conf
    assert server_conf.count("nats-route://") == 3
    config = of_kind(objects, "ConfigMap")["conectapro-config"]["data"]
    assert config["JETSTREAM_REPLICAS"] == "3"
    assert len(nats_servers(config["NATS_URL"])) == 3
    assert of_kind(objects, "PodDisruptionBudget")["nats"]["spec"]["minAvailable"] == 2


def _containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    return containers


def test_every_service_runs_with_probes_resources_and_a_disruption_budget(objects: list[dict[str, Any]]) -> None:
    deployments = of_kind(objects, "Deployment")
    run = {_containers(d)[0]["args"][1]: d for d in deployments.values()}
    assert set(run) | {"llm_adapter"} == set(SERVICES)
    budgets = [pdb["spec"]["selector"]["matchLabels"] for pdb in of_kind(objects, "PodDisruptionBudget").values()]
    for service, deployment in run.items():
        [container] = _containers(deployment)
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], service
        assert "readinessProbe" in container and "livenessProbe" in container, service
        metrics = {p["name"]: p["containerPort"] for p in container["ports"]}["metrics"]
        assert metrics == metrics_port(9100, list(SERVICES), service), f"{service}'s metrics port"
        assert deployment["spec"]["selector"]["matchLabels"] in budgets, f"{service} has no PodDisruptionBudget"


def test_secrets_come_only_from_secret_objects(objects: list[dict[str, Any]]) -> None:
    workloads = [*of_kind(objects, "Deployment").values(), *of_kind(objects, "StatefulSet").values()]
    workloads += list(of_kind(objects, "Job").values())
    for workload in workloads:
        for container in _containers(workload):
            for variable in container.get("env", []):
                secretish = any(word in variable["name"] for word in ("PASSWORD", "SECRET", "TOKEN", "KEY"))
                assert not (secretish and "value" in variable), variable["name"]
    config = of_kind(objects, "ConfigMap")["conectapro-config"]["data"]
    assert not [name for name in config if any(word in name for word in ("SECRET", "TOKEN", "PASSWORD"))]


def test_migrations_run_as_a_job(objects: list[dict[str, Any]]) -> None:
    [job] = of_kind(objects, "Job").values()
    assert _containers(job)[0]["args"] == ["migrate"]


def _environment(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in container.get("env", [])}


def test_without_the_llm_component_nothing_asks_a_model() -> None:
    objects = _rendered(KUSTOMIZATION)
    assert "llm-adapter" not in of_kind(objects, "Deployment")
    assert "LLM_ENABLED" not in of_kind(objects, "ConfigMap")["conectapro-config"]["data"]  # off by default


def test_with_the_llm_component_the_adapter_answers_and_only_it_and_the_orchestrator_hold_the_key() -> None:
    deployments = of_kind(_rendered(WITH_LLM), "Deployment")
    holders = set()
    for name, deployment in deployments.items():
        environment = _environment(_containers(deployment)[0])
        if "OPENAI_API_KEY" in environment:
            holders.add(name)
            reference = environment["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"]
            assert reference == {"name": "conectapro-llm", "key": "OPENAI_API_KEY"}, name
            assert environment["LLM_ENABLED"]["value"] == "true", name
    assert holders == {"llm-adapter", "orchestrator"}
    assert deployments["llm-adapter"]["spec"]["replicas"] >= 2  # a queue group: replicas share the requests
