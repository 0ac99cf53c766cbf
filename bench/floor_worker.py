"""The floor's worker: the least a worker can do per inbound webhook and still keep DESIGN.md's rules.

Per webhook taken from the durable consumer: its message id goes to an inbox (unique) and one event row is
appended, in one PostgreSQL transaction (synchronous_commit on), acknowledged to JetStream only after the
commit; a redelivered or repeated id appends nothing. For a customer message (not a status) the committed
event is the queued reply: after the commit it is sent to the Graph API, and its outcome (the wamid Meta
answered) is recorded in one more transaction. A queued reply without an outcome is sent again at start,
so a crash between the commit and the send loses no reply.

Only what that needs: JSON peeked with orjson (no models, no state machine, no personal-data sealing, no
logs or metrics). Webhooks that wait together go in one transaction with one acknowledgement (the consumer
acknowledges all up to the last); outcomes that wait together too: at a low rate that is one each, under
load fewer, as the product batches. Run by ``bench.bench_floor_path`` in a process of its own:
``python -m bench.floor_worker NATS_URL DATABASE_URL GRAPH_PORT PHONE_NUMBER_ID``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from dataclasses import dataclass
from typing import Any

import asyncpg
import nats
import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from bench.http_load import Connection, PreparedRequest, prepare_post
from bench.publish_floor_server import STREAM
from infra import event_loop
from infra.pull_feed import PullFeed

CONSUMER = "floor-worker"
#: Messages one pull request may bring; also about the most one transaction takes.
PULL_BATCH = 256
REPLY_TEXT = "¡Hola! Te ayudo a conseguir un técnico. ¿Qué tan urgente es?"

SCHEMA = """
CREATE TABLE IF NOT EXISTS floor_inbox (message_id text PRIMARY KEY);
CREATE TABLE IF NOT EXISTS floor_events (
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id text NOT NULL,
    stream_version integer NOT NULL,
    type text NOT NULL,
    data jsonb NOT NULL,
    transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, stream_version)
);
"""

# One statement, so one round trip and one transaction: the ids not seen before enter the inbox, and each
# of those (only) appends its event. Returns the streams appended to.
_TAKE = """
WITH batch AS (
    SELECT DISTINCT ON (message_id) message_id, type, data
    FROM unnest($1::text[], $2::text[], $3::text[]) AS b(message_id, type, data)
), new AS (
    INSERT INTO floor_inbox (message_id) SELECT message_id FROM batch ON CONFLICT DO NOTHING RETURNING message_id
)
INSERT INTO floor_events (stream_id, stream_version, type, data)
SELECT message_id, 1, type, data::jsonb FROM batch JOIN new USING (message_id)
RETURNING stream_id
"""

_OUTCOMES = """
INSERT INTO floor_events (stream_id, stream_version, type, data)
SELECT stream_id, 2, 'ReplySent', data::jsonb FROM unnest($1::text[], $2::text[]) AS o(stream_id, data)
"""

_UNSENT = """
SELECT q.stream_id, q.data->>'from' FROM floor_events q
WHERE q.type = 'MessageReceived'
  AND NOT EXISTS (SELECT 1 FROM floor_events s WHERE s.stream_id = q.stream_id AND s.stream_version = 2)
"""


async def prepare(js: JetStreamContext, database: asyncpg.Connection[Any]) -> None:
    """The stream, the durable consumer and the tables, before the webhook and the worker start."""
    await js.add_stream(name=STREAM, subjects=["benchfloor.>"], duplicate_window=600)
    config = ConsumerConfig(durable_name=CONSUMER, ack_policy=AckPolicy.ALL, max_ack_pending=4 * PULL_BATCH,
                            ack_wait=30)  # fmt: skip
    await js.add_consumer(STREAM, config)
    await database.execute(SCHEMA)


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message or status of a webhook: its inbox id, its event, and whom to reply to (messages only)."""

    message_id: str
    type: str
    data: str
    reply_to: str | None


def peek(body: bytes) -> list[Inbound]:
    """The messages and statuses of one webhook body."""
    found = []
    for entry in orjson.loads(body).get("entry", ()):
        for change in entry.get("changes", ()):
            value = change.get("value", {})
            for message in value.get("messages", ()):
                data = orjson.dumps(message).decode()
                found.append(Inbound(message["id"], "MessageReceived", data, message["from"]))
            for status in value.get("statuses", ()):
                data = orjson.dumps(status).decode()
                found.append(Inbound(f"{status['id']}:{status['status']}", "StatusReceived", data, None))
    return found


class FloorWorker:
    """``await start()``, then it runs until ``await stop()``."""

    def __init__(self, nats_url: str, database_url: str, graph_port: int, phone_number_id: str) -> None:
        self._nats_url = nats_url
        self._database_url = database_url
        self._graph_port = graph_port
        self._send_path = f"/v21.0/{phone_number_id}/messages"
        self._waiting: list[Msg] = []
        self._arrived = asyncio.Event()
        self._outcomes: list[tuple[str, str]] = []
        self._outcome_ready = asyncio.Event()
        self._graph: list[Connection] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._nc: NATS | None = None
        self._feed: PullFeed | None = None
        self._inbound_db: asyncpg.Connection[Any] | None = None
        self._outcome_db: asyncpg.Connection[Any] | None = None

    async def start(self) -> None:
        self._inbound_db = await asyncpg.connect(self._database_url)
        self._outcome_db = await asyncpg.connect(self._database_url)
        self._nc = await nats.connect(self._nats_url)
        self._feed = PullFeed(self._nc.jetstream(), STREAM, CONSUMER, self._on_message, batch=PULL_BATCH)
        await self._feed.start()
        for stream_id, phone in await self._inbound_db.fetch(_UNSENT):
            self._spawn(self._send(stream_id, phone))
        self._spawn(self._take_inbound(self._inbound_db))
        self._spawn(self._record_outcomes(self._outcome_db))
        self._spawn(self._keep_asking(self._feed))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._feed is not None:
            await self._feed.stop()
        if self._nc is not None:
            await self._nc.close()
        for database in (self._inbound_db, self._outcome_db):
            if database is not None:
                await database.close()
        for connection in self._graph:
            connection.close()

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_message(self, message: Msg) -> None:
        self._waiting.append(message)
        self._arrived.set()

    async def _keep_asking(self, feed: PullFeed) -> None:
        while True:
            if await feed.keep_waiting(()) is not None:
                await asyncio.sleep(0.1)  # refused (the consumer is being made): ask again shortly

    async def _take_inbound(self, database: asyncpg.Connection[Any]) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            messages, self._waiting = self._waiting, []
            if not messages:
                continue
            inbound = [item for message in messages for item in peek(message.data)]
            appended = set()
            if inbound:
                rows = await database.fetch(
                    _TAKE, [i.message_id for i in inbound], [i.type for i in inbound], [i.data for i in inbound]
                )
                appended = {row[0] for row in rows}
            await messages[-1].ack()  # the consumer acknowledges every message up to this one
            for item in inbound:
                if item.reply_to is not None and item.message_id in appended:
                    self._spawn(self._send(item.message_id, item.reply_to))

    async def _send(self, stream_id: str, phone: str) -> None:
        body = orjson.dumps(
            {"messaging_product": "whatsapp", "to": phone, "type": "text", "text": {"body": REPLY_TEXT}}
        )
        headers = {"Content-Type": "application/json", "Authorization": "Bearer bench-access-token"}
        request = prepare_post("127.0.0.1", self._graph_port, self._send_path, body, headers)
        status, answer = await self._exchange(request)
        outcome = {"status": status, "wamid": orjson.loads(answer)["messages"][0]["id"] if status == 200 else None}
        self._outcomes.append((stream_id, orjson.dumps(outcome).decode()))
        self._outcome_ready.set()

    async def _exchange(self, request: PreparedRequest) -> tuple[int, bytes]:
        """On a kept-alive connection to the Graph API, one more opened when all are busy."""
        if self._graph:
            connection = self._graph.pop()
        else:
            connection = await Connection.open("127.0.0.1", self._graph_port)
        answer = await connection.exchange(request)
        self._graph.append(connection)
        return answer

    async def _record_outcomes(self, database: asyncpg.Connection[Any]) -> None:
        while True:
            await self._outcome_ready.wait()
            self._outcome_ready.clear()
            outcomes, self._outcomes = self._outcomes, []
            await database.execute(_OUTCOMES, [stream_id for stream_id, _ in outcomes], [o for _, o in outcomes])


async def main(nats_url: str, database_url: str, graph_port: int, phone_number_id: str) -> None:
    worker = FloorWorker(nats_url, database_url, graph_port, phone_number_id)
    await worker.start()
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    await stopping.wait()
    await worker.stop()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        event_loop.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
