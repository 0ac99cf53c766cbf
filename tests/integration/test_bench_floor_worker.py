"""The floor bench's worker (``bench.floor_worker``) against the suite's PostgreSQL and JetStream: each
webhook appends once however often it arrives, a customer message gets one reply and its outcome."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
import nats
import orjson
import pytest
from nats.js.errors import NotFoundError

from bench.floor_worker import CONSUMER, FloorWorker, prepare
from bench.graph_standin import GraphStandIn, status_webhook
from bench.publish_floor_server import STREAM, SUBJECT
from tests.conftest import Infra
from tests.integration.projections_support import eventually
from tests.whatsapp_builders import text_message

pytestmark = pytest.mark.integration

PHONE_NUMBER_ID = "106540352242922"
CUSTOMER = "56912345678"


@pytest.fixture
async def standin() -> AsyncIterator[GraphStandIn]:
    graph = GraphStandIn(latency=0, webhook_port=0, app_secret="unused", phone_number_id=PHONE_NUMBER_ID,
                         post_statuses=False)  # fmt: skip
    await graph.start()
    yield graph
    await graph.close()


async def test_each_webhook_appends_once_and_a_message_gets_one_reply_and_its_outcome(
    infra: Infra, fresh_database: str, standin: GraphStandIn
) -> None:
    nc = await nats.connect(infra.nats_url)
    js = nc.jetstream()
    with contextlib.suppress(NotFoundError):
        await js.delete_stream(STREAM)
    database = await asyncpg.connect(fresh_database)
    worker = FloorWorker(infra.nats_url, fresh_database, standin.port, PHONE_NUMBER_ID)
    try:
        await prepare(js, database)
        await worker.start()
        message = orjson.dumps(text_message("wamid.floor.1", CUSTOMER, "hola"))
        status = status_webhook("wamid.reply.1", "delivered", CUSTOMER, PHONE_NUMBER_ID)
        for body in (message, status, message, status):  # no message id: JetStream keeps the repeats
            await js.publish(SUBJECT, body)

        async def done() -> bool:
            consumer = await js.consumer_info(STREAM, CONSUMER)
            outcomes = await database.fetchval("SELECT count(*) FROM floor_events WHERE type = 'ReplySent'")
            return not consumer.num_pending and not consumer.num_ack_pending and int(outcomes) > 0

        await eventually(done, "every webhook taken and the reply's outcome recorded")
        rows = await database.fetch("SELECT stream_id, stream_version, type, data FROM floor_events ORDER BY type")
        assert [(row["stream_id"], row["stream_version"], row["type"]) for row in rows] == [
            ("wamid.floor.1", 1, "MessageReceived"),
            ("wamid.floor.1", 2, "ReplySent"),
            ("wamid.reply.1:delivered", 1, "StatusReceived"),
        ]
        assert orjson.loads(rows[1]["data"]) == {"status": 200, "wamid": "wamid.standin.1"}
        assert standin.sends.total == 1
        assert list(standin.sends.at) == [CUSTOMER]
    finally:
        await worker.stop()
        await database.close()
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(STREAM)
        await nc.close()
