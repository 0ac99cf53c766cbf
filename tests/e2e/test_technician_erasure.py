"""A technician who writes "borra mis datos" on WhatsApp: answered by the rules on their own stream (an admin
erases technicians, once no job of theirs is open), recorded without personal data, listed as pending for an
admin; the admin's erasure answers it and then nothing of theirs is left in their stream or the listing."""

from __future__ import annotations

import asyncio

import pytest

from conectapro.erasure import forget
from conectapro.privacy_requests import pending_technician_requests, privacy_requests
from contracts.intent import Service
from contracts.personal import SUPPRESSED
from contracts.privacy_events import ErasureOutcome
from infra.clock import utc_now
from privacy.setup import privacy_of
from tests.e2e.pipeline import Pipeline

pytestmark = pytest.mark.e2e

TECHNICIAN = "56987652222"


async def test_a_technician_asking_on_whatsapp_is_pending_for_an_admin_until_erased(pipeline: Pipeline) -> None:
    provider_id = await pipeline.register("Eusebio Larraín", TECHNICIAN, (Service.ELECTRICIDAD,), ("Macul",))
    await pipeline.says(TECHNICIAN, "hola, por favor borren todos mis datos")
    [answer] = await pipeline.outbox(TECHNICIAN, 1)
    assert "administrador" in answer["text"]["body"] and "30 días" in answer["text"]["body"]

    [pending] = await pending_technician_requests(pipeline.store)
    assert (pending.kind, pending.outcome, pending.person_key) == ("erasure", "pending", provider_id)
    assert TECHNICIAN not in repr(pending) and "Eusebio" not in repr(pending)
    assert pipeline.directory.views[provider_id].active  # nothing is erased on the request itself

    privacy = privacy_of(pipeline.store)
    assert privacy is not None
    await pipeline.replies_all_sent()
    erasure = await forget(pipeline.store, privacy, pipeline.nats.jetstream(), TECHNICIAN, requested_by="ana",
                           force=False, now=utc_now)  # fmt: skip
    assert (erasure.outcome, erasure.provider_id) == (ErasureOutcome.FORGOTTEN, provider_id)
    assert await pending_technician_requests(pipeline.store) == []
    [answered] = (await privacy_requests(pipeline.store)).items
    assert answered.outcome == "forgotten" and f"technician {provider_id} deactivated" in answered.detail

    stream = await pipeline.store.read_stream(f"provider-{provider_id}")
    assert [e.type for e in stream] == ["ProviderRegistered", "MessageReceived", "ProviderErasureRequested",
                                        "ReplyQueued", "ProviderForgotten"]  # fmt: skip
    assert all(TECHNICIAN not in str(e.data) and "Eusebio" not in str(e.data) for e in stream)
    assert stream[0].data["name"] == SUPPRESSED and stream[1].data["text"] == SUPPRESSED
    for _ in range(100):  # the orchestrator's directory follows the store
        if not pipeline.directory.views[provider_id].active:
            break
        await asyncio.sleep(0.05)
    assert pipeline.directory.views[provider_id].name == SUPPRESSED
