"""The orchestrator process is killed (SIGKILL) in the middle of a load and started again:
no message is lost and no event is written twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from nats.aio.client import Client as NATS

from infra.jetstream import ensure_topology
from ingress.app import IngressConfig, create_app
from ingress.publisher import InboundPublisher
from tests.conftest import Infra
from tests.e2e.pipeline import PERSON_TOKENS as TOKENS
from tests.e2e.pipeline import PRIVACY_MASTER_KEY
from tests.whatsapp_builders import batch, signed

SECRET = "restart-secret-0123456789"
PARTITIONS = 4
CUSTOMERS = 60
MESSAGES_EACH = 4


def _start_orchestrator(database_url: str, nats_url: str, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "INBOUND_PARTITIONS": str(PARTITIONS),
        "CONECTAPRO_DATA_DIR": str(data_dir),
        "PRIVACY_MASTER_KEY": PRIVACY_MASTER_KEY,  # every process of one store shares it
        "LOG_LEVEL": "WARNING",
        # What the killed process held is redelivered after this: short, so the test does not wait 30 s.
        "INBOUND_ACK_WAIT_SECONDS": "2",
    }
    log = open(data_dir / "orchestrator.log", "ab")  # noqa: SIM115 — the child owns it until it exits
    return subprocess.Popen(
        [sys.executable, "-m", "conectapro.cli", "run", "orchestrator"], env=env, stdout=log, stderr=log
    )


async def _handled_count(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM inbox WHERE message_id LIKE 'wamid.R%'"))
    finally:
        await conn.close()


@pytest.fixture
async def http(nats_client: NATS) -> AsyncIterator[httpx.AsyncClient]:
    js = nats_client.jetstream()
    await ensure_topology(js)
    publisher = InboundPublisher(nats_client, js, partitions=PARTITIONS, person_token=TOKENS)
    app = create_app(IngressConfig(app_secret=SECRET, verify_token="v"), publisher)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingress") as client:
        yield client


async def test_killing_the_orchestrator_mid_load_loses_nothing_and_duplicates_nothing(
    infra: Infra, migrated_database: str, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    phones = [f"5697000{n:04d}" for n in range(CUSTOMERS)]
    texts = ["hola", "necesito un gasfiter en ñuñoa, gotea la llave", "hoy", "irarrázaval 1234"]
    wamids = [f"wamid.R{c:03d}{m}" for c in range(CUSTOMERS) for m in range(MESSAGES_EACH)]
    orchestrator = _start_orchestrator(migrated_database, infra.nats_url, tmp_path)
    try:
        # Each customer's messages in one webhook each round, so one partition holds them in order.
        for m in range(MESSAGES_EACH):
            payload = batch([(f"wamid.R{c:03d}{m}", phones[c], texts[m]) for c in range(CUSTOMERS)])
            body, headers = signed(payload, SECRET)
            assert (await http.post("/webhook", content=body, headers=headers)).status_code == 200
        for _ in range(600):  # kill it once it is busy, not before it started
            if await _handled_count(migrated_database) >= 20:
                break
            await asyncio.sleep(0.02)
        orchestrator.send_signal(signal.SIGKILL)
        orchestrator.wait(10)
        handled_at_kill = await _handled_count(migrated_database)

        orchestrator = _start_orchestrator(migrated_database, infra.nats_url, tmp_path)
        for _ in range(1500):
            if await _handled_count(migrated_database) == len(wamids):
                break
            await asyncio.sleep(0.05)
    finally:
        orchestrator.send_signal(signal.SIGTERM)
        orchestrator.wait(30)

    assert handled_at_kill < len(wamids), "the kill came too late to prove anything"
    conn = await asyncpg.connect(migrated_database)
    try:
        received = await conn.fetch("SELECT data->>'wamid' AS wamid FROM events WHERE type = 'MessageReceived'")
        versions = await conn.fetch(
            "SELECT stream_id, array_agg(stream_version ORDER BY stream_version) AS v FROM events GROUP BY stream_id"
        )
    finally:
        await conn.close()
    counts = Counter(row["wamid"] for row in received)
    assert set(counts) == set(wamids), "every message was handled"
    assert set(counts.values()) == {1}, "no message was recorded twice"
    for row in versions:
        assert list(row["v"]) == list(range(1, len(row["v"]) + 1)), f"{row['stream_id']} has gaps or repeats"
