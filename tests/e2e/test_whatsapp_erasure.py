"""A customer asks on WhatsApp that their data be erased, over the real pipeline (ingress, NATS JetStream,
orchestrator, sender with the Graph API sandbox, closer, PostgreSQL): the bot explains and asks with
buttons, "No" resumes the flow where it was, "Sí, borrar" brings the goodbye — the last message the
customer receives — and then the closer forgets them: their key is gone, the request is recorded, the
audit is clean and names their stream forgotten, and writing again starts a new person."""

from __future__ import annotations

import asyncio
import contextlib

from nats.js.errors import NotFoundError

from audit.runner import run_audit
from contracts.personal import SUPPRESSED
from contracts.privacy_events import PRIVACY_REQUESTS_STREAM, ErasureOutcome
from contracts.subjects import INBOUND_STREAM
from orchestrator.identity import deliveries_stream_id
from privacy.setup import privacy_of
from tests.e2e.pipeline import PRIVACY_MASTER_KEY, Pipeline, button_ids, text_of
from tests.whatsapp_builders import statuses

CUSTOMER = "56911118888"


async def forgotten(pipeline: Pipeline, person: str, timeout: float = 30.0) -> None:
    """Waits until the closer has erased ``person`` (their key row is gone)."""
    deadline = asyncio.get_running_loop().time() + timeout
    query = "SELECT count(*) FROM privacy_people WHERE person_key = $1"
    while await pipeline.store.pool.fetchval(query, person):
        pipeline.check_services()
        assert asyncio.get_running_loop().time() < deadline, "the closer never forgot the customer"
        await asyncio.sleep(0.05)


async def test_a_customer_erases_their_data_from_whatsapp(pipeline: Pipeline, migrated_database: str) -> None:
    await pipeline.says(CUSTOMER, "hola, se me rompió la cañería del baño, estoy en ñuñoa")
    [ask_urgency] = await pipeline.outbox(CUSTOMER, 1)
    person = await pipeline.person(CUSTOMER)

    await pipeline.says(CUSTOMER, "quiero que borren mis datos")
    asked = (await pipeline.outbox(CUSTOMER, 2))[1]
    assert button_ids(asked) == ["erasure:yes", "erasure:no"]
    assert "No se puede deshacer" in text_of(asked)

    await pipeline.taps(CUSTOMER, "erasure:no", "No")
    resumed = (await pipeline.outbox(CUSTOMER, 3))[2]
    assert text_of(resumed).startswith("Perfecto, no borré nada.")
    assert button_ids(resumed) == button_ids(ask_urgency)  # the question that was pending

    await pipeline.says(CUSTOMER, "elimina mi información porfa")
    assert button_ids((await pipeline.outbox(CUSTOMER, 4))[3]) == ["erasure:yes", "erasure:no"]
    await pipeline.taps(CUSTOMER, "erasure:yes", "Sí, borrar")
    goodbye = (await pipeline.outbox(CUSTOMER, 5))[4]
    assert "último mensaje" in text_of(goodbye)

    await forgotten(pipeline, person)
    privacy = privacy_of(pipeline.store)
    assert privacy is not None and await privacy.people.find(CUSTOMER) is None
    messages = pipeline.sandbox.messages(to=CUSTOMER)
    assert len(messages) == 5 and messages[-1]["payload"] == goodbye  # the goodbye was the last one
    [record] = [e.data for e in await pipeline.store.read_stream(PRIVACY_REQUESTS_STREAM)]
    assert record["outcome"] == ErasureOutcome.FORGOTTEN and record["person_key"] == person
    assert record["requested_by"] == "customer (whatsapp)" and record["jetstream_messages_removed"] > 0
    privacy.keyring.drop(person)  # this test's own process cached the key when it looked the person up
    stream = await pipeline.store.read_stream(f"customer-{person}")
    received = [e.data for e in stream if e.type == "MessageReceived"]
    assert received and all(m["phone"] == SUPPRESSED and m["text"] == SUPPRESSED for m in received)
    assert [e.type for e in stream][-1] == "ErasureRequested"

    report, _ = await asyncio.to_thread(run_audit, migrated_database, master_key=PRIVACY_MASTER_KEY)
    assert report.clean, report.render()
    assert f"customer-{person}" in report.forgotten

    await pipeline.says(CUSTOMER, "hola")  # a new person from now on
    welcome = (await pipeline.outbox(CUSTOMER, 6))[5]
    assert "Soy ConectaPro" in text_of(welcome)
    assert await pipeline.person(CUSTOMER) != person


async def _inbound_holding(pipeline: Pipeline, phone: str) -> int:
    js = pipeline.nats.jetstream()
    info = await js.stream_info(INBOUND_STREAM)
    holding = 0
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        with contextlib.suppress(NotFoundError):
            holding += phone.encode() in ((await js.get_msg(INBOUND_STREAM, sequence)).data or b"")
    return holding


async def test_the_statuses_of_the_goodbye_that_come_after_the_erasure_leave_no_phone_behind(
    pipeline: Pipeline,
) -> None:
    await pipeline.says(CUSTOMER, "hola, necesito un cerrajero en providencia")
    await pipeline.outbox(CUSTOMER, 1)
    person = await pipeline.person(CUSTOMER)
    await pipeline.says(CUSTOMER, "borra mis datos")
    await pipeline.outbox(CUSTOMER, 2)
    await pipeline.taps(CUSTOMER, "erasure:yes", "Sí, borrar")
    await pipeline.outbox(CUSTOMER, 3)
    await forgotten(pipeline, person)
    assert await _inbound_holding(pipeline, CUSTOMER) == 0  # the erasure took everything stored so far

    # Meta reports the goodbye delivered and read: seconds after the customer's last message, with the phone.
    goodbye = pipeline.sandbox.messages(to=CUSTOMER)[-1]["wamid"]
    await pipeline.post(statuses(CUSTOMER, [goodbye]))
    assert await _inbound_holding(pipeline, CUSTOMER) == 2

    deadline = asyncio.get_running_loop().time() + 20
    while await _inbound_holding(pipeline, CUSTOMER):
        pipeline.check_services()
        assert asyncio.get_running_loop().time() < deadline, "the late statuses stayed in INBOUND with the phone"
        await asyncio.sleep(0.05)
    # Recorded all the same, on the deliveries of nobody (they hold no personal data).
    unknown = await pipeline.store.read_stream(deliveries_stream_id("unknown"))
    assert sorted(e.data["status"] for e in unknown) == ["delivered", "read"]
