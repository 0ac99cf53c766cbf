"""Settings for more than one machine: several NATS servers, and streams replicated on a cluster."""

from __future__ import annotations

import pytest

from infra.jetstream import topology
from infra.settings import Settings, SettingsError, nats_servers, settings_from_environment


def test_a_nats_url_names_one_server_or_several_separated_by_commas() -> None:
    assert nats_servers("nats://n1:4222") == ["nats://n1:4222"]
    assert nats_servers("nats://n1:4222, nats://n2:4222 ,tls://n3:4222") == [
        "nats://n1:4222",
        "nats://n2:4222",
        "tls://n3:4222",
    ]


@pytest.mark.parametrize("url", ["nats://n1:4222,,nats://n2:4222", "nats://n1:4222,", "http://n1:4222"])
def test_a_nats_url_with_a_hole_or_a_foreign_scheme_is_refused(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", url)
    with pytest.raises(SettingsError, match="NATS_URL"):
        settings_from_environment()


@pytest.mark.parametrize("replicas", ["0", "6", "three"])
def test_jetstream_replicas_out_of_range_are_refused(replicas: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JETSTREAM_REPLICAS", replicas)
    with pytest.raises(SettingsError, match="JETSTREAM_REPLICAS"):
        settings_from_environment()


def test_replicas_default_to_one_server() -> None:
    assert Settings().jetstream_replicas == 1
    assert {config.num_replicas for config in topology()} == {1}


def test_every_stream_the_services_create_gets_the_replicas_asked_for() -> None:
    configs = topology(inbound_retention_days=9, replicas=3)
    assert {config.name for config in configs} == {"INBOUND", "DEADLETTER", "COMMANDS"}
    assert {config.num_replicas for config in configs} == {3}
    # Nothing else of a stream's declared shape changes with the replicas.
    [inbound] = [config for config in configs if config.name == "INBOUND"]
    assert inbound.max_age == 9 * 24 * 3600.0
