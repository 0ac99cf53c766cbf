"""Two orchestrator processes share the inbound consumer; one is killed (SIGKILL) in the middle of a duplicate
storm. Every message is decided exactly once, each customer's in order, and the audit is clean."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError

from audit.runner import run_audit
from contracts.subjects import INBOUND_STREAM
from infra.runtime import load
from infra.settings import Environment, Settings
from ingress.service import Ingress
from orchestrator.inbound_durable import INBOUND_CONSUMER
from tests.conftest import Infra
from tests.e2e.pipeline import PRIVACY_MASTER_KEY
from tests.e2e.storm import Outcome, Storm, blow, handled, outcome, wait_until_handled

SECRET = "two-orchestrators-secret-0123456789"
PARTITIONS = 4
STORM = Storm(tag="TWO", customers=40, copies=2)


class OrchestratorProcess:
    """`conectapro run orchestrator` in a process of its own, its JSON log lines in a file."""

    def __init__(self, name: str, database_url: str, nats_url: str, data_dir: Path) -> None:
        self.log_file = data_dir / f"{name}.log"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "NATS_URL": nats_url,
            "INBOUND_PARTITIONS": str(PARTITIONS),
            "CONECTAPRO_DATA_DIR": str(data_dir),
        "PRIVACY_MASTER_KEY": PRIVACY_MASTER_KEY,  # every process of one store shares it
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json",
            # What the killed process held comes back after this: short, so the test does not wait 30 s.
            "INBOUND_ACK_WAIT_SECONDS": "2",
            # Each customer's order holds across the two with any concurrency; the work is shared evenly
            # (what the kill below needs) with one message of a partition in flight at a time.
            "INBOUND_CONCURRENCY_PER_PARTITION": "1",
        }
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "conectapro.cli", "run", "orchestrator"], env=env, stdout=log, stderr=log
            )

    def log_events(self) -> list[dict[str, object]]:
        lines = self.log_file.read_bytes().splitlines()
        events = []
        for line in lines:
            with contextlib.suppress(orjson.JSONDecodeError):
                parsed = orjson.loads(line)
                if isinstance(parsed, dict):
                    events.append(parsed)
        return events

    def decided(self) -> int:
        """Messages of the storm this process decided (not the repeats its inbox turned away)."""
        return sum(
            1
            for event in self.log_events()
            if event.get("event") == "inbound_handled"
            and event.get("outcome") == "handled"
            and str(event.get("id", "")).startswith(f"wamid.{STORM.tag}")
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture
def orchestrators(infra: Infra, migrated_database: str, tmp_path: Path) -> Iterator[list[OrchestratorProcess]]:
    started = [OrchestratorProcess(name, migrated_database, infra.nats_url, tmp_path) for name in ("one", "two")]
    try:
        yield started
    finally:
        for process in started:
            process.stop()


async def _until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        await asyncio.sleep(0.05)


async def _until_both_wait(nats_client: NATS) -> None:
    js = nats_client.jetstream()
    for _ in range(1200):  # 60 s at most
        with contextlib.suppress(NotFoundError):
            if ((await js.consumer_info(INBOUND_STREAM, INBOUND_CONSUMER)).num_waiting or 0) >= 2:
                return
        await asyncio.sleep(0.05)
    raise AssertionError("two orchestrators waiting for messages within 60 s")


async def test_two_orchestrators_share_the_work_and_one_dies_mid_storm(
    infra: Infra, migrated_database: str, nats_client: NATS, orchestrators: list[OrchestratorProcess]
) -> None:
    one, two = orchestrators
    settings = Settings(
        conectapro_env=Environment.LOCAL,
        database_url=migrated_database,
        nats_url=infra.nats_url,
        inbound_partitions=PARTITIONS,
        whatsapp_app_secret=SECRET,
        whatsapp_verify_token="v",
    )
    async with load("ingress")(settings) as ingress:
        assert isinstance(ingress, Ingress)
        transport = httpx.ASGITransport(app=ingress.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as http:
            # Both wait for messages (a pull request each on the consumer) before any is sent.
            await _until_both_wait(nats_client)
            storm = asyncio.create_task(blow(http, STORM, SECRET))
            # Kill the first once both have decided messages: the work really was shared.
            await _until(lambda: one.decided() >= 10 and two.decided() >= 1, "both orchestrators decided messages")
            one.process.send_signal(signal.SIGKILL)
            one.process.wait(10)
            handled_at_kill = await handled(migrated_database, STORM)
            await storm
            await wait_until_handled(migrated_database, STORM, STORM.total, timeout=90)

    result = await outcome(migrated_database, STORM)
    report, _ = await asyncio.to_thread(run_audit, migrated_database)
    print(
        f"\ntwo orchestrators: {STORM.total} messages x {STORM.copies} copies; one decided {one.decided()},"
        f" two decided {two.decided()}; one killed at {handled_at_kill} handled; {result}"
    )
    assert handled_at_kill < STORM.total, "the kill came too late to prove anything"
    assert result == Outcome(decided=STORM.total, duplicated=0, lost=0, in_order=True)
    assert two.process.poll() is None, "the survivor is still running"
    assert report.clean, report.render()
