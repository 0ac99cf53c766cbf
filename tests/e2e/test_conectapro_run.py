"""`conectapro run` as `make run` starts it: embedded servers, every service in its own process, migrations
applied once, a signed webhook answered in the sandbox, and Ctrl-C stops everything cleanly, servers last."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from infra.embedded import free_port
from tests.whatsapp_builders import signed, text_message

SECRET = "run-app-secret-0123456789"
CUSTOMER = "56911117777"


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as output:
        # A session of its own, so that SIGINT reaches every process of it, as Ctrl-C in a terminal does.
        return subprocess.Popen(
            [sys.executable, "-m", "conectapro.cli", "run"], env=env, stdout=output, stderr=output,
            start_new_session=True,
        )  # fmt: skip


def _ctrl_c(run: subprocess.Popen[bytes]) -> int:
    os.killpg(run.pid, signal.SIGINT)
    try:
        return run.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        raise


def _using(data_dir: Path) -> list[str]:
    """The command lines of the processes still running with ``data_dir`` in their arguments."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            arguments = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if str(data_dir) in arguments:
                found.append(arguments)
    return found


def _alive(session: int) -> bool:
    try:
        os.killpg(session, 0)
    except ProcessLookupError:
        return False
    return True


async def _until(
    condition: Callable[[], Awaitable[bool]], what: str, process: subprocess.Popen[bytes], log: Path, timeout: float
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if process.poll() is not None:
            raise AssertionError(f"conectapro run exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never happened: {what}\n{log.read_text()[-3000:]}")
        await asyncio.sleep(0.2)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not under pytest's tmp_path, which is private to us: PostgreSQL runs as another user when we are root.
    path = Path(tempfile.mkdtemp(prefix="conectapro-run-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


# Six service processes import their dependencies at once: on a busy 2-core machine that alone can take
# minutes, and only the time is at stake here, not the outcome.
@pytest.mark.timeout(720)
async def test_run_migrates_once_answers_a_webhook_and_stops_cleanly_on_ctrl_c(data_dir: Path) -> None:
    ingress, sandbox = free_port(), free_port()
    unset = ("WHATSAPP_", "CLOSER_", "DATABASE_URL", "NATS_URL")
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith(unset)},
        "CONECTAPRO_DATA_DIR": str(data_dir),
        "INGRESS_PORT": str(ingress),
        "OPERATOR_API_PORT": str(free_port()),
        "SANDBOX_PORT": str(sandbox),
        # Not the fixed default ports: another run on the machine may hold them.
        "METRICS_PORT": str(free_port()),
        "WHATSAPP_APP_SECRET": SECRET,
        "LOG_LEVEL": "INFO",
    }
    log = data_dir / "run.log"
    run = _start(env, log)
    try:
        async with httpx.AsyncClient(timeout=5) as http:

            async def ingress_up() -> bool:
                try:
                    return (await http.get(f"http://127.0.0.1:{ingress}/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await _until(ingress_up, "the webhook listening", run, log, timeout=420)
            body, headers = signed(text_message("wamid.RUN1", CUSTOMER, "hola, necesito un gasfiter en ñuñoa"), SECRET)
            assert (await http.post(f"http://127.0.0.1:{ingress}/webhook", content=body, headers=headers)).is_success

            async def replied() -> bool:
                try:
                    answer = await http.get(f"http://127.0.0.1:{sandbox}/sandbox/messages", params={"to": CUSTOMER})
                except httpx.TransportError:
                    return False
                return len(answer.json()["messages"]) == 1

            await _until(replied, "the reply in the sandbox", run, log, timeout=180)
    finally:
        code = _ctrl_c(run)
    lines = log.read_text().splitlines()

    assert code == 0, "\n".join(lines[-40:])
    assert sum('"migrations_checked"' in line for line in lines) == 1, "migrations ran once, before the services"
    # The servers do not get the Ctrl-C: they are stopped after the services, which therefore stop cleanly.
    assert not [line for line in lines if '"service_failed"' in line or '"service_exited"' in line]
    assert not _alive(run.pid), "a service outlived Ctrl-C"
    assert _using(data_dir) == [], "a server outlived Ctrl-C"

