from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError

from contracts.subjects import DEADLETTER_STREAM, INBOUND_STREAM
from infra.jetstream import connect
from tests.conftest import Infra


@pytest.fixture
async def nats_client(infra: Infra) -> AsyncIterator[NATS]:
    """A connection to the session's NATS with the ConectaPro streams removed, so each test starts empty."""
    nc = await connect(infra.nats_url, "test")
    js = nc.jetstream()
    for stream in (INBOUND_STREAM, DEADLETTER_STREAM):
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(stream)
    yield nc
    await nc.close()
