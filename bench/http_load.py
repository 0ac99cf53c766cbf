"""A minimal keep-alive HTTP/1.1 load generator on raw asyncio streams.

A general HTTP client (httpx) spends more CPU per request than the server under test on this 2-core
machine, which would measure the client; this one only writes prepared bytes and reads the answer.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PreparedRequest:
    raw: bytes


def prepare_post(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> PreparedRequest:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return PreparedRequest(("\r\n".join(lines) + "\r\n\r\n").encode() + body)


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        connection = cls(reader, writer)
        connection.address = (host, port)
        return connection

    address: tuple[str, int] = ("", 0)

    async def send_reopening(self, request: PreparedRequest) -> int:
        """:meth:`send`, on a new connection if the server closed this one (an idle keep-alive timeout)."""
        try:
            return await self.send(request)
        except (asyncio.IncompleteReadError, ConnectionError):
            self.close()
            self.reader, self.writer = await asyncio.open_connection(*self.address)
            return await self.send(request)

    async def send(self, request: PreparedRequest) -> int:
        status, _ = await self.exchange(request)
        return status

    async def exchange(self, request: PreparedRequest) -> tuple[int, bytes]:
        """Sends ``request``; the answer's status and body."""
        self.writer.write(request.raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return status, await self.reader.readexactly(length) if length else b""

    def close(self) -> None:
        self.writer.close()


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)


async def closed_loop(host: str, port: int, requests: Sequence[PreparedRequest], concurrency: int) -> LoadResult:
    """As fast as possible: ``concurrency`` connections, each sending its next request on answer."""
    queue = list(reversed(requests))
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def worker() -> None:
        connection = await Connection.open(host, port)
        try:
            while queue:
                request = queue.pop()
                started = time.perf_counter()
                status = await connection.send(request)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadResult(len(requests), time.perf_counter() - started, latencies, statuses)


async def open_loop(
    host: str, port: int, requests: Sequence[PreparedRequest], rate: float, connections: int = 64
) -> LoadResult:
    """At a fixed arrival rate, whatever the latency: measures latency at a given load, not peak rate."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await Connection.open(host, port))
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def one(request: PreparedRequest, scheduled: float) -> None:
        connection = await pool.get()
        try:
            status = await connection.send(request)
        finally:
            pool.put_nowait(connection)
        # Latency from the scheduled send time: waiting for a free connection counts too.
        latencies.append((time.perf_counter() - scheduled) * 1000)
        statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    tasks = []
    for index, request in enumerate(requests):
        scheduled = started + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(request, scheduled)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    while not pool.empty():
        pool.get_nowait().close()
    return LoadResult(len(requests), elapsed, latencies, statuses)
