"""Start `conectapro run SERVICES` in a child process on a temporary data folder, for benchmarks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from conectapro.embedded import free_port

BENCH_SECRET = "bench-app-secret-0123456789abcdef"


@dataclass
class RunningStack:
    data_dir: Path
    ingress_port: int
    database_url: str
    nats_url: str
    log_file: Path


@contextmanager
def running(services: list[str], extra_env: dict[str, str] | None = None) -> Iterator[RunningStack]:
    data_dir = Path(tempfile.mkdtemp(prefix="conectapro-bench-"))
    port = free_port()
    env = {
        **os.environ,
        "CONECTAPRO_DATA_DIR": str(data_dir),
        "INGRESS_PORT": str(port),
        "WHATSAPP_APP_SECRET": BENCH_SECRET,
        "WHATSAPP_VERIFY_TOKEN": "bench-verify-token",
        "LOG_LEVEL": "INFO",
        **(extra_env or {}),
    }
    log_file = data_dir / "stack.log"
    with open(log_file, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "conectapro.cli", "run", *services], env=env, stdout=log, stderr=log
        )
    try:
        runtime = _wait_until_up(data_dir, port, process, log_file)
        yield RunningStack(data_dir, port, runtime["database_url"], runtime["nats_url"], log_file)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_until_up(data_dir: Path, port: int, process: subprocess.Popen[bytes], log_file: Path) -> dict[str, str]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"stack exited with {process.returncode}:\n{log_file.read_text()[-3000:]}")
        runtime_file = data_dir / "runtime.json"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                if answer.status == 200 and runtime_file.exists():
                    runtime: dict[str, str] = json.loads(runtime_file.read_text())
                    return runtime
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"stack did not come up:\n{log_file.read_text()[-3000:]}")
