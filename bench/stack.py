"""Start ConectaPro services for benchmarks: one child process per service, as a deployment runs them.

The first process (`conectapro run FIRST`) also starts the embedded PostgreSQL and NATS on a temporary data
folder; the others get their URLs. One process per service lets them use both cores, as separate
containers would.
"""

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

from bench.cpu import CpuMeter, children, command_name
from infra.embedded import free_port

BENCH_SECRET = "bench-app-secret-0123456789abcdef"
#: Every bench stack seals personal fields with this master key, so a bench can read what it wrote.
BENCH_MASTER_KEY = "bench-privacy-master-key-0123456789abcdef"


@dataclass
class RunningStack:
    data_dir: Path
    ingress_port: int
    database_url: str
    nats_url: str
    log_file: Path
    #: Service name (and "nats-server", "postgres") → process ids, for CPU accounting.
    pids: dict[str, list[int]]

    def cpu_meter(self, names: list[str], *, include_this_process: bool = False) -> CpuMeter:
        pids = {**self.pids, "load generator": [os.getpid()]}
        names = [*names, "load generator"] if include_this_process else names
        if "postgres" in pids:
            # Its backends come and go with the services' pools: take the ones alive now.
            postmaster = pids["postgres"][0]
            pids["postgres"] = [postmaster, *children(postmaster)]
        return CpuMeter({name: pids[name] for name in names})


def _spawn(services: list[str], env: dict[str, str], log_file: Path) -> subprocess.Popen[bytes]:
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "conectapro.cli", "run", *services], env=env, stdout=log, stderr=log
        )


def _listening_sockets(port: int) -> set[str]:
    """The TCP sockets listening on ``port`` (any address), as /proc/PID/fd names them."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A: LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    return inodes


def listeners(parent: int, port: int) -> list[int]:
    """The child processes of ``parent`` that listen on ``port`` (the ingress workers of one run)."""
    sockets = _listening_sockets(port)
    found = []
    for pid in children(parent):
        try:
            if any(os.readlink(fd) in sockets for fd in Path(f"/proc/{pid}/fd").iterdir()):
                found.append(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended meanwhile
    return found


@contextmanager
def running(
    services: list[str], extra_env: dict[str, str] | None = None, *, ingress_port: int | None = None
) -> Iterator[RunningStack]:
    """``services[0]`` must be "ingress" (its health check tells when the stack is up)."""
    data_dir = Path(tempfile.mkdtemp(prefix="conectapro-bench-"))
    port = ingress_port or free_port()
    env = {
        **os.environ,
        "CONECTAPRO_DATA_DIR": str(data_dir),
        "INGRESS_PORT": str(port),
        "WHATSAPP_APP_SECRET": BENCH_SECRET,
        "WHATSAPP_VERIFY_TOKEN": "bench-verify-token",
        "PRIVACY_MASTER_KEY": BENCH_MASTER_KEY,
        "LOG_LEVEL": "INFO",
        **(extra_env or {}),
    }
    log_file = data_dir / "stack.log"
    processes = [_spawn(services[:1], env, log_file)]
    try:
        runtime = _wait_until_up(data_dir, port, processes[0], log_file)
        workers = int(env.get("INGRESS_WORKERS", "1"))
        if workers > 1:
            _wait_for_workers(processes[0], port, workers, log_file)
        others_env = {**env, "DATABASE_URL": runtime["database_url"], "NATS_URL": runtime["nats_url"]}
        for service in services[1:]:
            processes.append(_spawn([service], others_env, data_dir / f"{service}.log"))
        time.sleep(2.0)  # let them connect and create their consumers
        for process, service in zip(processes[1:], services[1:], strict=True):
            if process.poll() is not None:
                raise RuntimeError(f"{service} exited:\n{(data_dir / f'{service}.log').read_text()[-3000:]}")
        pids = _process_ids(services, processes)
        yield RunningStack(data_dir, port, runtime["database_url"], runtime["nats_url"], log_file, pids)
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_for_workers(process: subprocess.Popen[bytes], port: int, workers: int, log_file: Path) -> None:
    deadline = time.monotonic() + 90
    while len(listeners(process.pid, port)) < workers:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{workers} ingress workers did not come up:\n{log_file.read_text()[-3000:]}")
        time.sleep(0.2)


def _process_ids(services: list[str], processes: list[subprocess.Popen[bytes]]) -> dict[str, list[int]]:
    pids = {service: [process.pid] for service, process in zip(services, processes, strict=True)}
    # The first process started the embedded servers: nats-server, and postgres with its backends.
    for child in children(processes[0].pid):
        name = command_name(child)
        if name.startswith("nats-server"):
            pids["nats-server"] = [child]
        elif name.startswith("postgres"):
            pids["postgres"] = [child]
        elif name.startswith("python"):  # INGRESS_WORKERS > 1: the first process supervises the workers
            pids[services[0]].append(child)
    return pids


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
