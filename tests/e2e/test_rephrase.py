"""A warmer wording of the bot's replies (LLM_REPHRASE_ENABLED): the whole pipeline, the real adapter on
real NATS, the real SDK against the local OpenAI-compatible server. A rewording that keeps every fact goes
out; one that drops a fact does not (the deterministic text goes); the summary the customer consents to
and the technician's offer are never sent to the model; phones leave only as placeholders; both texts are
recorded and the audit is unaffected."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from audit.runner import audit_stream
from contracts.intent import Service
from contracts.outbound import ReplyReworded, ReplySent, sender_stream_id
from llm_adapter.app import build_broker, start_serving
from llm_adapter.cost_control import CostControl, ProcessLedger
from llm_adapter.gateway import Gateway
from llm_adapter.llm_client import LlmClient
from llm_adapter.prompt_templates import DATA_CLOSE, DATA_OPEN
from tests.conftest import Infra
from tests.e2e.pipeline import Pipeline, button_ids, running_pipeline, text_of
from tests.llm_support import until_adapter_answers
from tests.openai_stub import OpenAIStub, OpenAIStubServer, Scripted, completion

pytestmark = pytest.mark.e2e

CUSTOMER = "56911112222"
PEDRO = "56987654321"


def warmer(request: dict[str, Any]) -> Scripted:
    """The model: a warm opening before the text it was given, except that it drops the comuna where there
    is one (a fact lost: that rewording must not go out)."""
    slot = str(request["messages"][-1]["content"])
    text = slot[slot.index(DATA_OPEN) + len(DATA_OPEN) : slot.index(DATA_CLOSE)].strip()
    if "Ñuñoa" in text:
        return completion("¡Hola! " + text.replace(" en Ñuñoa", ""))
    return completion("¡Buenas noticias! " + text)


@pytest.fixture
async def pipeline(migrated_database: str, nats_client: NATS, infra: Infra) -> AsyncIterator[Pipeline]:
    async with OpenAIStubServer() as server:
        server.stub.default = warmer
        client = LlmClient.connect(server.base_url, None, "stub-model", timeout_seconds=3)
        cost = CostControl(100_000, 100, ProcessLedger(), wall_clock=lambda: datetime.now(UTC))
        async with build_broker(Gateway(client, cost), infra.nats_url) as broker:
            await start_serving(broker)
            await until_adapter_answers(infra.nats_url)
            async with running_pipeline(
                migrated_database, nats_client, infra.nats_url, llm_rephrase_enabled=True,
                llm_rephrase_timeout_seconds=5.0,
            ) as pipeline:  # fmt: skip
                pipeline.stub = server.stub  # type: ignore[attr-defined]
                yield pipeline
        await client.close()


async def test_only_a_rewording_that_keeps_every_fact_goes_out(pipeline: Pipeline) -> None:
    stub: OpenAIStub = pipeline.stub  # type: ignore[attr-defined]
    await pipeline.register("Pedro Soto", PEDRO, (Service.GASFITERIA,), ("Ñuñoa",))

    await pipeline.says(CUSTOMER, "hola, se me rompió la cañería del baño y está saliendo agua, estoy en ñuñoa")
    [ask_urgency] = await pipeline.outbox(CUSTOMER, 1)
    await pipeline.taps(CUSTOMER, "urgency:hoy", "Hoy")
    ask_address = (await pipeline.outbox(CUSTOMER, 2))[1]
    await pipeline.says(CUSTOMER, "irarrázaval 1234 depto 5")
    summary = (await pipeline.outbox(CUSTOMER, 3))[2]
    await pipeline.taps(CUSTOMER, "confirm:yes", "Sí, confirmo")
    [offer] = await pipeline.outbox(PEDRO, 1)
    accept_id, _ = button_ids(offer)
    await pipeline.taps(PEDRO, accept_id, "Aceptar")
    accepted = (await pipeline.outbox(CUSTOMER, 5))[4]
    await pipeline.replies_all_sent()

    # The rewording that dropped the comuna did not go out: the deterministic text did, buttons as decided.
    assert "gasfiter en Ñuñoa" in text_of(ask_urgency) and not text_of(ask_urgency).startswith("¡Hola!")
    assert [b["reply"]["title"] for b in ask_urgency["interactive"]["action"]["buttons"]] == [
        "Hoy", "1-2 días", "Esta semana",
    ]  # fmt: skip
    # Those that kept every fact did; the technician's phone went to the model as a placeholder only.
    assert text_of(ask_address).startswith("¡Buenas noticias! ¿En qué dirección")
    assert text_of(accepted).startswith("¡Buenas noticias! Pedro Soto aceptó tu solicitud")
    assert "+56 9 8765 4321" in text_of(accepted)
    sent_to_model = [str(r["messages"][-1]["content"]) for r in stub.requests]
    assert not any(re.search(r"8765|4321", text) for text in sent_to_model)
    # Never reworded: the summary the customer consents to, and the technician's offer.
    assert not text_of(summary).startswith("¡") and not text_of(offer).startswith("¡")
    assert not any("Resumen" in text for text in sent_to_model)

    stream_id = await pipeline.customer_stream(CUSTOMER)
    sender_events = [e.to_event() for e in await pipeline.store.read_stream(sender_stream_id(stream_id))]
    reworded = [e for e in sender_events if isinstance(e, ReplyReworded)]
    assert [(r.used, r.outcome) for r in reworded] == [
        (False, "facts_changed"), (True, "ok"), (True, "ok"), (True, "ok"),
    ]  # fmt: skip  # urgency, address, searching, accepted
    assert reworded[0].original == text_of(ask_urgency) and reworded[0].reworded is not None
    assert "Ñuñoa" not in reworded[0].reworded and "lost_comuna" in (reworded[0].detail or "")
    assert reworded[3].reworded == text_of(accepted)
    sent = {e.reply_id: e.reworded for e in sender_events if isinstance(e, ReplySent)}
    assert [sent[r.reply_id] for r in reworded] == [False, True, True, True]
    # The decisions are the deterministic ones: the audit re-decides them identically.
    assert (await audit_stream(pipeline.store, stream_id)).clean
