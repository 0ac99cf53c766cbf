"""Every service's Prometheus metrics and health, served as `conectapro run` serves them, after real traffic."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families

import conectapro.service_table  # noqa: F401  (registers the services)
from infra.metrics_server import metrics_port, serving_metrics
from infra.runtime import SERVICES
from tests.e2e.pipeline import Pipeline

CUSTOMER = "56911114444"
#: The inbound consumer serves every partition.
PENDING_INBOUND = ("conectapro_consumer_pending", (("partition", "all"), ("stream", "INBOUND")))


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_the_metrics_count_what_the_pipeline_did_and_health_answers(pipeline: Pipeline) -> None:
    async with serving_metrics("127.0.0.1", 0, service="pipeline") as port, httpx.AsyncClient() as client:
        assert port
        await pipeline.says(CUSTOMER, "hola, se me rompió la cañería del baño, estoy en ñuñoa")
        await pipeline.outbox(CUSTOMER, 1)
        await pipeline.replies_all_sent()
        assert (await client.get(f"http://127.0.0.1:{port}/healthz")).json() == {"status": "ok"}
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        deadline = asyncio.get_running_loop().time() + 20
        while asyncio.get_running_loop().time() < deadline:  # the pending gauge is read every few seconds
            samples = _samples((await client.get(f"http://127.0.0.1:{port}/metrics")).text)
            if PENDING_INBOUND in samples:
                break
            await asyncio.sleep(0.1)

    assert samples[("conectapro_inbound_handled_total", (("kind", "message"), ("outcome", "handled")))] >= 1
    assert samples[("conectapro_step_seconds_count", (("step", "inbound"),))] >= 1
    assert samples[("conectapro_step_seconds_count", (("step", "send"),))] >= 1
    assert samples[("conectapro_replies_total", (("outcome", "sent"),))] >= 1
    assert samples[("conectapro_step_seconds_count", (("step", "project"),))] >= 1
    assert samples[("conectapro_projected_events_total", (("projection", "leads"),))] >= 1
    assert samples[("conectapro_step_seconds_count", (("step", "timer_index"),))] >= 1
    # The ingress's own registry, on the metrics port too.
    assert samples[("ingress_updates_total", (("kind", "message"),))] >= 1
    assert samples[PENDING_INBOUND] == 0


def test_each_service_has_its_own_metrics_port_after_the_base() -> None:
    services = list(SERVICES)
    ports = [metrics_port(9100, services, name) for name in services]
    assert ports == list(range(9100, 9100 + len(services)))
    assert metrics_port(0, services, "ingress") is None
