"""`INGRESS_WORKERS=2`: two ingress processes listen on one port (SO_REUSEPORT); either alone keeps the
webhook answering, and the supervisor brings a dead one back."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from nats.aio.client import Client as NATS

from bench.stack import listeners
from contracts.subjects import INBOUND_STREAM
from infra.embedded import free_port
from tests.conftest import Infra
from tests.whatsapp_builders import signed, text_message

SECRET = "workers-secret-0123456789"


@pytest.fixture
def supervisor(infra: Infra, migrated_database: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": migrated_database,
        "NATS_URL": infra.nats_url,
        "CONECTAPRO_DATA_DIR": str(tmp_path),
        "INGRESS_PORT": str(port),
        "INGRESS_WORKERS": "2",
        "WHATSAPP_APP_SECRET": SECRET,
        "WHATSAPP_VERIFY_TOKEN": "v",
        "LOG_LEVEL": "WARNING",
    }
    with open(tmp_path / "run.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "conectapro.cli", "run", "ingress"], env=env, stdout=log, stderr=log
        )
    try:
        yield process, port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


async def _workers_listening(supervisor: subprocess.Popen[bytes], port: int, timeout: float = 150.0) -> list[int]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        assert supervisor.poll() is None, "conectapro run exited"
        workers = listeners(supervisor.pid, port)
        if len(workers) == 2:
            return workers
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{len(workers)} ingress processes listen on {port} after {timeout} s")
        await asyncio.sleep(0.1)


async def _post_each_on_a_new_connection(port: int, wamids: list[str]) -> list[int]:
    statuses = []
    for wamid in wamids:
        body, headers = signed(text_message(wamid, "56911110000", "hola"), SECRET)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            statuses.append((await http.post("/webhook", content=body, headers=headers)).status_code)
    return statuses


async def test_two_ingress_workers_share_the_port_and_cover_for_each_other(
    supervisor: tuple[subprocess.Popen[bytes], int], nats_client: NATS
) -> None:
    process, port = supervisor
    first, second = await _workers_listening(process, port)
    assert await _post_each_on_a_new_connection(port, [f"wamid.W{n}" for n in range(20)]) == [200] * 20

    os.kill(first, signal.SIGKILL)
    # The survivor holds the port alone while the supervisor starts a replacement.
    assert await _post_each_on_a_new_connection(port, [f"wamid.W{n}" for n in range(20, 30)]) == [200] * 10
    replaced = await _workers_listening(process, port)
    assert second in replaced and first not in replaced

    info = await nats_client.jetstream().stream_info(INBOUND_STREAM)
    assert info.state.messages == 30, "every accepted webhook was published once"
