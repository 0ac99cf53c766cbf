"""Erasure end to end: after a whole conversation, forgetting the customer leaves nothing of them readable in
the event store or in JetStream, keeps the technician's data, and the audit still checks every decision."""

from __future__ import annotations

import asyncio
import base64

from audit.runner import run_audit
from conectapro.erasure import forget
from contracts.intent import Service
from contracts.personal import SUPPRESSED
from contracts.privacy_events import PRIVACY_REQUESTS_STREAM, ErasureOutcome
from contracts.subjects import DEADLETTER_STREAM, INBOUND_STREAM
from infra.clock import utc_now
from privacy.setup import privacy_of
from tests.e2e.pipeline import PRIVACY_MASTER_KEY, Pipeline, button_ids
from tests.whatsapp_builders import text_message

CUSTOMER = "56911117777"
NAME = "Marisol Quintanilla"
PEDRO = "56987654321"
PROBLEM = "se rompió la cañería del baño y está saliendo agua"
ADDRESS = "irarrázaval 1234 depto 5"


def encodings(secret: str) -> list[str]:
    raw = secret.encode()
    return [secret, base64.b64encode(raw).decode()[:12], raw.hex(), secret.encode("unicode_escape").decode()]


async def whole_store_text(pipeline: Pipeline) -> str:
    rows = await pipeline.store.pool.fetch(
        "SELECT data::text || metadata::text || stream_id AS t FROM events UNION ALL "
        "SELECT message_id || stream_id FROM inbox UNION ALL SELECT person_key FROM privacy_people"
    )
    return "\n".join(row["t"] for row in rows)


async def jetstream_text(pipeline: Pipeline) -> str:
    js = pipeline.nats.jetstream()
    found = []
    for stream in (INBOUND_STREAM, DEADLETTER_STREAM):
        info = await js.stream_info(stream)
        for sequence in range(max(1, info.state.first_seq), info.state.last_seq + 1):
            try:
                message = await js.get_msg(stream, sequence)
            except Exception:  # deleted
                continue
            found.append((message.data or b"").decode(errors="replace") + str(message.headers or {}))
    return "\n".join(found)


async def test_forgetting_a_customer_after_a_whole_conversation(pipeline: Pipeline, migrated_database: str) -> None:
    await pipeline.register("Pedro Soto", PEDRO, (Service.GASFITERIA,), ("Ñuñoa",))
    await pipeline.post(text_message(pipeline.next_wamid(), CUSTOMER, f"hola, {PROBLEM}, estoy en ñuñoa", name=NAME))
    await pipeline.outbox(CUSTOMER, 1)
    await pipeline.taps(CUSTOMER, "urgency:hoy", "Hoy")
    await pipeline.outbox(CUSTOMER, 2)
    await pipeline.says(CUSTOMER, ADDRESS)
    await pipeline.outbox(CUSTOMER, 3)
    await pipeline.taps(CUSTOMER, "confirm:yes", "Sí, confirmo")
    [offer] = await pipeline.outbox(PEDRO, 1)
    await pipeline.taps(PEDRO, button_ids(offer)[0], "Aceptar")
    await pipeline.outbox(CUSTOMER, 5)
    await pipeline.replies_all_sent()
    person = await pipeline.person(CUSTOMER)
    stream_id = await pipeline.customer_stream(CUSTOMER)
    privacy = privacy_of(pipeline.store)
    assert privacy is not None
    js = pipeline.nats.jetstream()

    # Sealed from the start: the store never held them in clear, the stream id is no function of the phone.
    assert CUSTOMER not in stream_id
    stored = await whole_store_text(pipeline)
    for secret in (NAME, ADDRESS, "cañería", "ca\\u00f1er\\u00eda"):
        assert secret not in stored
    assert CUSTOMER in await jetstream_text(pipeline)  # the raw webhooks, until forgotten

    refused = await forget(pipeline.store, privacy, js, CUSTOMER, requested_by="test", force=False, now=utc_now)
    assert refused.outcome == ErasureOutcome.REFUSED_JOB_IN_PROGRESS  # Pedro is on his way
    done = await forget(pipeline.store, privacy, js, CUSTOMER, requested_by="test", force=True, now=utc_now)
    assert done.outcome == ErasureOutcome.FORGOTTEN and done.jetstream_messages_removed > 0
    again = await forget(pipeline.store, privacy, js, CUSTOMER, requested_by="test", force=False, now=utc_now)
    assert again.outcome == ErasureOutcome.ALREADY_FORGOTTEN

    stored, streamed = await whole_store_text(pipeline), await jetstream_text(pipeline)
    for secret in (CUSTOMER, NAME, ADDRESS, PROBLEM):
        for form in encodings(secret):
            assert form not in stored, form
            assert form not in streamed, form
    # The technician's own data is untouched (sealed with their own key, which stays).
    assert "Pedro Soto" not in stored and PEDRO in streamed
    registered = [e for s in (await pipeline.store.read_streams([f"provider-{p}" for p in pipeline.directory.views]))
                  .values() for e in s if e.type == "ProviderRegistered"]  # fmt: skip
    assert [(e.data["name"], e.data["phone"]) for e in registered] == [("Pedro Soto", PEDRO)]

    events = await pipeline.store.read_stream(stream_id)
    received = [e.data for e in events if e.type == "MessageReceived" and e.data["role"] == "customer"]
    assert received and all(m["phone"] == SUPPRESSED and m["text"] == SUPPRESSED for m in received)
    [submitted] = [e.data for e in events if e.type == "LeadSubmitted"]
    assert submitted["fields"]["address"] == SUPPRESSED and submitted["fields"]["comuna"] == "Ñuñoa"
    outcomes = [e.data["outcome"] for e in await pipeline.store.read_stream(PRIVACY_REQUESTS_STREAM)]
    assert outcomes == ["refused_job_in_progress", "forgotten", "already_forgotten"]
    assert all(CUSTOMER not in str(e.data) for e in await pipeline.store.read_stream(PRIVACY_REQUESTS_STREAM))
    assert await privacy.people.find(CUSTOMER) is None and person in done.streams[0]

    report, _ = await asyncio.to_thread(run_audit, migrated_database, master_key=PRIVACY_MASTER_KEY)
    assert report.clean, report.render()
    assert stream_id in report.forgotten
