"""A three-node JetStream cluster with every stream on three replicas: the stream leader is killed with
SIGKILL in the middle of a duplicate storm, and nothing is lost, nothing is decided twice, the audit is clean."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import ClusterInfo
from nats.js.errors import ServiceUnavailableError

from audit.runner import run_audit
from contracts.subjects import COMMANDS_STREAM, DEADLETTER_STREAM, INBOUND_STREAM
from infra.jetstream import connect
from infra.runtime import load
from infra.settings import Environment, Settings
from ingress.service import Ingress
from tests.e2e.nats_cluster import NatsCluster
from tests.e2e.storm import Outcome, Storm, blow, handled, outcome, wait_until_handled

SECRET = "cluster-secret-0123456789"
STORM = Storm(tag="NC", customers=30, copies=3)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    nodes = NatsCluster.of(3, tmp_path / "nats")
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.stop()


async def cluster_of(js: JetStreamContext, stream: str, timeout: float = 60.0) -> ClusterInfo | None:
    """The stream's cluster as the servers report it, asked again while they cannot answer yet: an observer
    that was connected to the killed node reconnects first, and a loaded cluster may still be electing."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return (await js.stream_info(stream)).cluster
        except (NatsTimeout, NoRespondersError, ServiceUnavailableError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


def cluster_settings(database_url: str, nats_url: str) -> Settings:
    return Settings(
        conectapro_env=Environment.LOCAL,
        database_url=database_url,
        nats_url=nats_url,
        jetstream_replicas=3,
        inbound_partitions=4,
        # What a consumer on the lost node held comes back after this: short, so the test does not wait 30 s.
        inbound_ack_wait_seconds=2,
        whatsapp_app_secret=SECRET,
        whatsapp_verify_token="v",
    )


async def test_a_duplicate_storm_survives_the_stream_leader_killed(
    migrated_database: str, cluster: NatsCluster
) -> None:
    started = time.monotonic()
    settings = cluster_settings(migrated_database, cluster.url)
    observer = await connect(cluster.url, "test-cluster")
    stopping = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(observer.close)
        ingress = await stack.enter_async_context(load("ingress")(settings))
        assert isinstance(ingress, Ingress)
        orchestrator = await stack.enter_async_context(load("orchestrator")(settings))
        consuming = asyncio.create_task(orchestrator.run(stopping), name="orchestrator")
        js = observer.jetstream()
        for stream in (INBOUND_STREAM, DEADLETTER_STREAM, COMMANDS_STREAM):
            info = await js.stream_info(stream)
            assert info.config.num_replicas == 3 and info.cluster is not None, stream
            assert len(info.cluster.replicas or []) == 2, f"{stream}: a leader and two followers"
        http = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=ingress.app), base_url="http://ingress")
        )

        storm = asyncio.create_task(blow(http, STORM, SECRET))
        await wait_until_handled(migrated_database, STORM, STORM.total // 4, timeout=60)
        handled_at_kill = await handled(migrated_database, STORM)
        leader = (await js.stream_info(INBOUND_STREAM)).cluster
        assert leader is not None and leader.leader is not None
        cluster.node(leader.leader).kill()
        killed_at = time.monotonic()
        refused = await storm
        await wait_until_handled(migrated_database, STORM, STORM.total, timeout=60)
        survived = await cluster_of(js, INBOUND_STREAM)
        stopping.set()
        await asyncio.wait_for(consuming, 30)

    result = await outcome(migrated_database, STORM)
    report, _ = await asyncio.to_thread(run_audit, migrated_database)
    print(
        f"\ncluster storm: {STORM.total} messages x {STORM.copies} copies, node {leader.leader} killed"
        f" {killed_at - started:.1f} s in; {result}; {refused} posts refused then retried;"
        f" audit {report.decisions} decisions, clean={report.clean}; {time.monotonic() - started:.1f} s"
    )
    assert handled_at_kill < STORM.total, "the kill came too late to prove anything"
    assert survived is not None and survived.leader not in (None, leader.leader), "a new leader was elected"
    assert result == Outcome(decided=STORM.total, duplicated=0, lost=0, in_order=True)
    assert report.clean, report.render()
    assert report.decisions >= STORM.total
