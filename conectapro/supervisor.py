"""`conectapro run` with several services: one child process per service, restarted if it dies.

One Python process is one core; PostgreSQL, NATS and the services share two here. Separate processes let
the webhook and the orchestrator run side by side, isolate a crash to one service, and mirror how the
services are deployed (one container each). Children are told to die with the supervisor, so nothing is
left running after Ctrl-C or a crash.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import structlog

from infra.embedded import die_with_parent

log = structlog.get_logger("supervisor")

#: A child that keeps dying is restarted after this long, doubling up to a minute.
_FIRST_RESTART_DELAY = 1.0
_MAX_RESTART_DELAY = 60.0
#: Which copy of a service a child is, when a service runs in several processes (INGRESS_WORKERS).
WORKER_INDEX = "CONECTAPRO_WORKER_INDEX"


@dataclass
class Child:
    service: str
    worker: int = 0
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    restart_at: float = 0.0
    started_at: float = field(default_factory=time.monotonic)


class Supervisor:
    def __init__(self, services: list[str], env: dict[str, str]) -> None:
        self._children = [Child(service, services[:k].count(service)) for k, service in enumerate(services)]
        self._env = env
        self._stopping = False

    def _start(self, child: Child) -> None:
        child.process = subprocess.Popen(
            [sys.executable, "-m", "conectapro.cli", "run", child.service],
            env={**self._env, "CONECTAPRO_SUPERVISED": "1", WORKER_INDEX: str(child.worker)},
            preexec_fn=lambda: die_with_parent(signal.SIGTERM),
        )
        child.started_at = time.monotonic()
        log.info("service_started", service=child.service, pid=child.process.pid)

    def stop(self, *_: object) -> None:
        self._stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGINT, self.stop)
        signal.signal(signal.SIGTERM, self.stop)
        for child in self._children:
            self._start(child)
        while not self._stopping:
            time.sleep(0.2)
            for child in self._children:
                if not self._stopping:  # Ctrl-C reaches the children too: their exit is then expected
                    self._watch(child)
        return self._shutdown()

    def _watch(self, child: Child) -> None:
        if child.process is None:
            if time.monotonic() >= child.restart_at:
                self._start(child)
            return
        code = child.process.poll()
        if code is None:
            return
        # A service that ran for a while and died gets a quick restart; one that dies at once backs off.
        if time.monotonic() - child.started_at > _MAX_RESTART_DELAY:
            child.restarts = 0
        delay = min(_FIRST_RESTART_DELAY * 2**child.restarts, _MAX_RESTART_DELAY)
        child.restarts += 1
        child.process = None
        child.restart_at = time.monotonic() + delay
        report = log.warning if code == 0 else log.error
        report("service_exited", service=child.service, code=code, restart_in_s=delay)

    def _shutdown(self) -> int:
        running = [c.process for c in self._children if c.process is not None and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
        log.info("services_stopped")
        return 0


def child_environment(database_url: str, nats_url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "NATS_URL": nats_url}
