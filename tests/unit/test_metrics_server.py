"""A service's metrics port serves the default registry and the registries the service included."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter

from infra import metrics_server
from infra.metrics_server import exposition, include


def test_an_included_registry_is_served_beside_the_default_one_and_replaced_when_built_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(metrics_server, "_INCLUDED", {})  # this process's services' registries stay out
    default = CollectorRegistry()
    Counter("unit_default_things", "in the default registry", registry=default).inc()
    first = CollectorRegistry()
    Counter("unit_own_things", "in a service's own registry", registry=first).inc()
    include("unit-service", first)
    served = exposition(default)
    assert b"unit_default_things_total 1.0" in served and b"unit_own_things_total 1.0" in served

    again = CollectorRegistry()
    Counter("unit_own_things", "the service built again", registry=again).inc(3)
    include("unit-service", again)
    served = exposition(default)
    assert served.count(b"\nunit_own_things_total ") == 1 and b"unit_own_things_total 3.0" in served
    assert exposition(again).count(b"\nunit_own_things_total ") == 1  # a registry is served once
