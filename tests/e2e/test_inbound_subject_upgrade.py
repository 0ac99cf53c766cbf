"""Across the upgrade to subjects with person tokens: an update stored under its old subject, retried by
Meta later, is not found by the ingress's lookup (it asks the new subject) and is published again; the
orchestrator's inbox makes that copy a duplicate, so it is decided once and answered once."""

from __future__ import annotations

import orjson
import pytest

from contracts.inbound import normalize
from contracts.subjects import INBOUND_STREAM, INBOUND_SUBJECT_PREFIX, dedupe_token, partition_of
from contracts.whatsapp import WebhookPayload
from tests.e2e.pipeline import PARTITIONS, Pipeline
from tests.whatsapp_builders import text_message

pytestmark = pytest.mark.e2e

CUSTOMER = "56911117777"


async def test_a_retry_of_an_update_stored_under_its_old_subject_is_decided_once(pipeline: Pipeline) -> None:
    payload = text_message("wamid.BEFORE1", CUSTOMER, "hola, necesito un cerrajero en providencia")
    [envelope] = normalize(WebhookPayload.model_validate(payload))
    # What the previous ingress stored, days ago: past JetStream's duplicate window (no Nats-Msg-Id here).
    old_subject = f"{INBOUND_SUBJECT_PREFIX}.p{partition_of(CUSTOMER, PARTITIONS)}.{dedupe_token(envelope.dedupe_key)}"
    js = pipeline.nats.jetstream()
    await js.publish(old_subject, orjson.dumps(envelope.model_dump(mode="json")))
    await pipeline.outbox(CUSTOMER, 1)

    retried = await pipeline.post(payload)  # Meta's retry reaches the upgraded ingress
    sentinel = await pipeline.says(CUSTOMER, "hoy")  # queued behind the retry, in the same partition

    assert retried.json() == {"published": 1, "duplicates": 0}  # the lookup asked the new subject only
    assert await pipeline.received_until(CUSTOMER, sentinel) == ["wamid.BEFORE1", sentinel]
    await pipeline.replies_all_sent()
    assert len(pipeline.sandbox.messages(to=CUSTOMER)) == 2  # one answer each, none for the retry
    stored = await js.stream_info(INBOUND_STREAM, subjects_filter=f"{INBOUND_SUBJECT_PREFIX}.>")
    assert len(stored.state.subjects or {}) == 3  # the old copy, the retry's, the sentinel's
