"""Waiting for a just-started LLM adapter to answer, as a sentinel rather than a sleep."""

from __future__ import annotations

import asyncio

from nats.errors import NoRespondersError

from contracts.subjects import LLM_UNDERSTAND_SUBJECT
from infra.jetstream import connect


async def until_adapter_answers(nats_url: str, attempts: int = 200) -> None:
    """Until a request gets a reply: an empty one, which the adapter refuses without calling the provider."""
    nc = await connect(nats_url, "test-llm-ready")
    try:
        for _ in range(attempts):
            try:
                await nc.request(LLM_UNDERSTAND_SUBJECT, b"{}", timeout=5)
                return
            except NoRespondersError:
                await asyncio.sleep(0.05)
        raise AssertionError("the LLM adapter never answered")
    finally:
        await nc.close()
