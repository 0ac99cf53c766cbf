"""A Graph API stand-in for the full-path bench: answers sends after a delay and posts statuses back.

``POST /<version>/<phone_number_id>/messages`` is answered after ``latency`` seconds with a new wamid, as
Meta does; then the ``sent``, ``delivered`` and ``read`` statuses of that wamid are posted to the ingress
webhook, each signed with the app secret, one webhook per status, as Meta does. Raw asyncio streams and
prepared bytes: a general HTTP framework here would spend the load generator's share of the two cores.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from bench.http_load import Connection, prepare_post
from ingress.signature import sign

STATUSES = ("sent", "delivered", "read")


@dataclass
class Sends:
    """What the stand-in received: for each recipient, the times its sends arrived (perf_counter)."""

    at: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    waiters: dict[str, list[tuple[int, asyncio.Future[float]]]] = field(default_factory=lambda: defaultdict(list))
    total: int = 0

    def record(self, to: str, now: float) -> None:
        self.at[to].append(now)
        self.total += 1
        count = len(self.at[to])
        still = []
        for wanted, future in self.waiters[to]:
            if count >= wanted and not future.done():
                future.set_result(self.at[to][wanted - 1])
            elif not future.done():
                still.append((wanted, future))
        self.waiters[to] = still

    def nth(self, to: str, n: int) -> asyncio.Future[float]:
        """When the ``n``-th send (from 1) to ``to`` arrived, now or later."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if len(self.at[to]) >= n:
            future.set_result(self.at[to][n - 1])
        else:
            self.waiters[to].append((n, future))
        return future


def status_webhook(
    wamid: str, status: str, recipient: str, phone_number_id: str, callback_data: str | None = None
) -> bytes:
    """One status, echoing the send's ``biz_opaque_callback_data`` as Meta does."""
    item = {"id": wamid, "status": status, "timestamp": str(int(time.time())), "recipient_id": recipient}
    if callback_data is not None:
        item["biz_opaque_callback_data"] = callback_data
    return orjson.dumps({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "56229990000", "phone_number_id": phone_number_id},
            "statuses": [item],
        }}]}],
    })  # fmt: skip


class GraphStandIn:
    """The stand-in server; ``await start()``, ``close()``. Statuses go to ``webhook_port`` on 127.0.0.1."""

    def __init__(
        self,
        *,
        latency: float,
        webhook_port: int,
        app_secret: str,
        phone_number_id: str,
        post_statuses: bool = True,
        status_connections: int = 16,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.latency = latency
        self.webhook_port = webhook_port
        self.app_secret = app_secret
        self.phone_number_id = phone_number_id
        self.post_statuses = post_statuses
        self.sends = Sends()
        self.statuses_posted = 0
        self._clock = clock
        self._ids = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._pool: asyncio.Queue[Connection] = asyncio.Queue()
        self._status_connections = status_connections
        self._opened = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v21.0"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        while not self._pool.empty():
            self._pool.get_nowait().close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = orjson.loads(await reader.readexactly(length)) if length else {}
                to = str(body.get("to", ""))
                self.sends.record(to, self._clock())
                wamid = f"wamid.standin.{next(self._ids)}"
                await asyncio.sleep(self.latency)
                answer = orjson.dumps({
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": to, "wa_id": to}],
                    "messages": [{"id": wamid}],
                })  # fmt: skip
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                    + str(len(answer)).encode() + b"\r\n\r\n" + answer
                )  # fmt: skip
                await writer.drain()
                if self.post_statuses:
                    callback_data = body.get("biz_opaque_callback_data")
                    task = asyncio.create_task(self._statuses(wamid, to, callback_data))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _statuses(self, wamid: str, to: str, callback_data: str | None) -> None:
        for status in STATUSES:
            body = status_webhook(wamid, status, to, self.phone_number_id, callback_data)
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, self.app_secret)}
            request = prepare_post("127.0.0.1", self.webhook_port, "/webhook", body, headers)
            if self._pool.empty() and self._opened < self._status_connections:
                self._opened += 1  # opened on first need: the ingress may start after the stand-in
                self._pool.put_nowait(await Connection.open("127.0.0.1", self.webhook_port))
            conn = await self._pool.get()
            try:
                answer = await conn.send_reopening(request)
            finally:
                self._pool.put_nowait(conn)
            if answer == 200:
                self.statuses_posted += 1
