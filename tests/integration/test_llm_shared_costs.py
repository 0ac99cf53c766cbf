"""The cost limits hold for the whole deployment: two adapter replicas share one ledger in JetStream.

Real NATS, the real SDK against the local OpenAI-compatible server. Each replica alone would let its own
share through; together they let through exactly the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import pytest
from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError

from contracts.llm import NoResultReason, UnderstandRequest
from infra.jetstream import connect
from llm_adapter.config import AdapterConfig
from llm_adapter.cost_control import CostControl
from llm_adapter.service import open_adapter
from llm_adapter.shared_ledger import BUCKET, KeyValueLedger
from orchestrator.llm_requester import LlmRequester
from tests.conftest import Infra
from tests.llm_support import until_adapter_answers
from tests.openai_stub import OpenAIStub, OpenAIStubServer, completion, intent_json

pytestmark = pytest.mark.integration


@pytest.fixture
async def fresh_ledger(nats_client: NATS) -> None:
    """No counts left by another test: the bucket is the deployment's, one per NATS."""
    with contextlib.suppress(NotFoundError):
        await nats_client.jetstream().delete_key_value(BUCKET)


@pytest.fixture
async def replicas(
    infra: Infra, openai_server: OpenAIStubServer, stub: OpenAIStub, fresh_ledger: None
) -> AsyncIterator[int]:
    """Two adapter replicas, built as `conectapro run llm_adapter` builds one, in the queue group."""
    stub.default = lambda _: completion(intent_json(0.9, service="Electricidad"))  # 190 tokens a call
    config = AdapterConfig(
        model="stub-model", base_url=openai_server.base_url, daily_token_budget=10**6, customer_calls_per_hour=3
    )
    async with AsyncExitStack() as stack:
        for _ in range(2):
            service = await stack.enter_async_context(open_adapter(config, infra.nats_url))
            stopping = asyncio.Event()
            task = asyncio.create_task(service.run(stopping))
            stack.push_async_callback(asyncio.wait_for, task, 10)
            stack.callback(stopping.set)
        await until_adapter_answers(infra.nats_url)
        await until_adapter_answers(infra.nats_url)
        yield 2


async def test_two_replicas_let_a_customer_through_only_the_hourly_cap_together(
    replicas: int, infra: Infra, stub: OpenAIStub
) -> None:
    nc = await connect(infra.nats_url, "test-llm-caller")
    try:
        requester = LlmRequester(nc, budget_seconds=10)
        asks = [UnderstandRequest(customer_ref="customer-shared", text="hola") for _ in range(12)]
        replies = await asyncio.gather(*(requester.understand(ask) for ask in asks))
        other = await requester.understand(UnderstandRequest(customer_ref="customer-other", text="hola"))
    finally:
        await nc.close()

    outcomes = sorted(str(reply.no_result) for reply in replies)
    assert outcomes == ["None"] * 3 + [NoResultReason.CUSTOMER_HOURLY_CAP.value] * 9
    assert len(stub.requests) == 4 and other.no_result is None  # the cap is per customer


async def test_what_one_replica_spent_counts_against_the_other_s_daily_budget(infra: Infra, fresh_ledger: None) -> None:
    wall = [datetime(2026, 12, 6, 12, 0, tzinfo=UTC)]
    connections = [await connect(infra.nats_url, f"test-ledger-{n}") for n in range(2)]
    try:
        one, two = [
            CostControl(1000, 100, await KeyValueLedger.open(nc.jetstream()), wall_clock=lambda: wall[0])
            for nc in connections
        ]
        assert await one.refusal("a") is None
        await one.spend(600)
        assert await two.refusal("b") is None
        await asyncio.gather(two.spend(300), one.spend(50), two.spend(50))  # spends racing on the one key
        assert await one.refusal("c") is NoResultReason.DAILY_TOKEN_BUDGET
        assert await two.refusal("c") is NoResultReason.DAILY_TOKEN_BUDGET
        wall[0] += timedelta(hours=16)  # past midnight in Santiago: a new day's budget
        assert await two.refusal("c") is None
    finally:
        for nc in connections:
            await nc.close()


async def test_racing_replicas_never_both_take_a_customer_s_last_call(infra: Infra, fresh_ledger: None) -> None:
    connections = [await connect(infra.nats_url, f"test-ledger-{n}") for n in range(2)]
    try:
        ledgers = [await KeyValueLedger.open(nc.jetstream()) for nc in connections]
        now = datetime.now(UTC).timestamp()
        taken = await asyncio.gather(*(ledgers[n % 2].take_call("customer-x", now, 5) for n in range(30)))
        later = await ledgers[0].take_call("customer-x", now + 3600, 5)
    finally:
        for nc in connections:
            await nc.close()

    assert sum(taken) == 5 and later  # an hour on, the calls have aged out
