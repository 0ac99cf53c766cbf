"""A pull feed against the real JetStream: messages are handed over from the connection's read loop, in
delivery order, and a handler that fails on one message neither stops the connection nor the next ones."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig
from nats.js.errors import NotFoundError

from infra.pull_feed import PullFeed

pytestmark = pytest.mark.integration

STREAM = "PULLFEEDTEST"
CONSUMER = "pull-feed-test"


@pytest.fixture
async def js(nats_client: NATS) -> AsyncIterator[JetStreamContext]:
    js = nats_client.jetstream()
    with contextlib.suppress(NotFoundError):
        await js.delete_stream(STREAM)
    await js.add_stream(StreamConfig(name=STREAM, subjects=["pullfeedtest.>"]))
    await js.add_consumer(STREAM, ConsumerConfig(durable_name=CONSUMER, ack_policy=AckPolicy.EXPLICIT))
    yield js
    await js.delete_stream(STREAM)


async def test_messages_come_from_the_read_loop_in_order_and_a_failing_handler_stops_nothing(
    js: JetStreamContext,
) -> None:
    taken: list[bytes] = []
    last = asyncio.Event()

    def take(message: Msg) -> None:
        if message.data == b"bad":
            raise RuntimeError("a handler that fails")
        taken.append(message.data)
        if message.data == b"4":
            last.set()

    feed = PullFeed(js, STREAM, CONSUMER, take, batch=4)
    await feed.start()
    try:
        assert feed.on_arrival  # else a nats-py upgrade renamed the queue: a task wakeup more per message
        for data in (b"1", b"bad", b"2", b"3"):
            await js.publish("pullfeedtest.x", data)
        await feed.ask()
        await asyncio.wait_for(feed.ended.wait(), 10)  # the batch of four used up, the failing one counted
        assert taken == [b"1", b"2", b"3"]
        await js.publish("pullfeedtest.x", b"4")
        await feed.ask()
        await asyncio.wait_for(last.wait(), 10)
        assert taken == [b"1", b"2", b"3", b"4"]
    finally:
        await feed.stop()
