"""`conectapro projections rebuild`: from zero, the same rows as the live projection, however it is run."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NATS

import projections.table
from bench.bench_projections import Synthetic
from conectapro.erasure import forget, person_streams
from contracts.intent import Service
from contracts.personal import SUPPRESSED
from contracts.privacy_events import PRIVACY_REQUESTS_STREAM, ErasureOutcome, PersonForgotten
from eventstore import Checkpoint, PostgresEventStore, load_checkpoint
from infra.clock import utc_now
from infra.settings import Settings
from orchestrator.identity import deliveries_stream_id
from privacy.setup import protect
from projections.catalog import PROJECTIONS
from projections.rebuild import rebuild
from tests.conftest import Infra
from tests.e2e.pipeline import PRIVACY_MASTER_KEY, Pipeline, button_ids, running_pipeline
from tests.integration.projections_support import (
    eventually,
    project,
    record,
    snapshot,
    synthetic_conversations,
    wait_until_caught_up,
)
from tests.whatsapp_builders import statuses

pytestmark = pytest.mark.integration

ANA_CLIENTA = "56911110001"
BRUNO_CLIENTE = "56911110002"
CARLA_CLIENTA = "56911110003"
PEDRO = "56987654321"
JUANA = "56955554444"
ALL = list(PROJECTIONS.values())


@pytest.fixture
async def pipeline(read_models_database: str, nats_client: NATS, infra: Infra) -> AsyncIterator[Pipeline]:
    async with running_pipeline(read_models_database, nats_client, infra.nats_url) as pipeline:
        yield pipeline


async def three_conversations(p: Pipeline) -> None:
    """A rated job, an offer declined then accepted elsewhere, and a cancellation."""
    await p.register("Pedro Soto", PEDRO, (Service.GASFITERIA, Service.ELECTRICIDAD), ("Ñuñoa", "Macul"))
    await p.register("Juana Pérez", JUANA, (Service.ELECTRICIDAD,), ("Macul",))

    await p.says(ANA_CLIENTA, "hola, se me rompió la cañería del baño y está saliendo agua, estoy en ñuñoa")
    await p.outbox(ANA_CLIENTA, 1)
    await p.taps(ANA_CLIENTA, "urgency:hoy", "Hoy")
    await p.outbox(ANA_CLIENTA, 2)
    await p.says(ANA_CLIENTA, "irarrázaval 1234 depto 5")
    await p.outbox(ANA_CLIENTA, 3)
    await p.taps(ANA_CLIENTA, "confirm:yes", "Sí, confirmo")
    [offer] = await p.outbox(PEDRO, 1)
    await p.taps(PEDRO, button_ids(offer)[0], "Aceptar")
    await p.outbox(ANA_CLIENTA, 5)
    await p.says(PEDRO, "terminado")
    await p.outbox(ANA_CLIENTA, 6)
    await p.taps(ANA_CLIENTA, "rating:5", "5")
    await p.outbox(ANA_CLIENTA, 7)

    await p.says(BRUNO_CLIENTE, "necesito un electricista hoy en macul, se saltó el automático")
    await p.outbox(BRUNO_CLIENTE, 1)
    await p.says(BRUNO_CLIENTE, "av. macul 3456")
    await p.outbox(BRUNO_CLIENTE, 2)
    await p.taps(BRUNO_CLIENTE, "confirm:yes", "Sí, confirmo")
    await p.outbox(BRUNO_CLIENTE, 3)
    bruno_lead = f"{await p.person(BRUNO_CLIENTE)}.1"
    first, offer = await p.offer((JUANA, PEDRO), bruno_lead)
    await p.taps(first, button_ids(offer)[1], "Rechazar")
    second, offer = await p.offer((PEDRO if first == JUANA else JUANA,), bruno_lead)
    await p.taps(second, button_ids(offer)[0], "Aceptar")
    await p.outbox(BRUNO_CLIENTE, 4)

    await p.says(CARLA_CLIENTA, "hola, necesito un cerrajero en providencia, se me quedaron las llaves adentro")
    await p.outbox(CARLA_CLIENTA, 1)
    await p.says(CARLA_CLIENTA, "mejor cancelar")
    await p.outbox(CARLA_CLIENTA, 2)

    await p.replies_all_sent()  # so that every message gets its statuses (one still on its way would not)
    for person in (ANA_CLIENTA, BRUNO_CLIENTE, PEDRO):
        await p.post(statuses(person, [m["wamid"] for m in p.sandbox.messages(to=person)]))


async def all_statuses_recorded(pipeline: Pipeline, store: PostgresEventStore) -> None:
    async def recorded() -> bool:
        # Every person's statuses, not only the first one's: one still in flight when the live rows are
        # read would be in the rebuild only.
        for person in (ANA_CLIENTA, BRUNO_CLIENTE, PEDRO):
            stream = await store.read_stream(deliveries_stream_id(await pipeline.person(person)))
            if len(stream) != 2 * len(pipeline.sandbox.messages(to=person)):
                return False
        return True

    await eventually(recorded, "the delivery statuses recorded")


async def test_a_rebuild_gives_the_same_rows_as_the_live_projection(
    pipeline: Pipeline, store: PostgresEventStore
) -> None:
    # Sealing with the pipeline's master key: the rebuild reads what the pipeline wrote.
    protect(store, Settings(privacy_master_key=PRIVACY_MASTER_KEY))
    # The pipeline's projections service follows the store while the customers talk, as in production.
    await three_conversations(pipeline)
    await all_statuses_recorded(pipeline, store)
    await wait_until_caught_up(store, ALL)
    live_rows = await snapshot(store)

    result = await rebuild(store, ALL, progress=False)
    rebuilt = await snapshot(store)

    assert result.events == await store.pool.fetchval("SELECT count(*) FROM events")
    assert rebuilt == live_rows
    statuses_by_lead = sorted(row["status"] for row in rebuilt["read_models.leads"])
    assert statuses_by_lead == ["assigned", "cancelled", "rated"]
    assert {row["status"] for row in rebuilt["read_models.delivery_statuses"]} == {"read"}
    assert len(rebuilt["read_models.technicians"]) == 2


async def test_after_a_forget_the_live_rows_are_blanked_and_a_rebuild_gives_the_same_rows(
    pipeline: Pipeline, store: PostgresEventStore
) -> None:
    privacy = protect(store, Settings(privacy_master_key=PRIVACY_MASTER_KEY))
    await three_conversations(pipeline)
    ana = await pipeline.person(ANA_CLIENTA)
    await all_statuses_recorded(pipeline, store)
    await wait_until_caught_up(store, ALL)
    before = await snapshot(store)

    erasure = await forget(store, privacy, pipeline.nats.jetstream(), ANA_CLIENTA, requested_by="test", force=False,
                           now=utc_now)  # fmt: skip
    assert erasure.outcome == ErasureOutcome.FORGOTTEN
    await wait_until_caught_up(store, ALL)
    live_rows = await snapshot(store)
    result = await rebuild(store, ALL, progress=False)
    assert await snapshot(store) == live_rows
    assert result.events == await store.pool.fetchval("SELECT count(*) FROM events")

    live_text = repr(live_rows)
    for secret in (ANA_CLIENTA, "cañería", "irarrázaval 1234"):
        assert secret not in live_text, secret
    [lead] = [row for row in live_rows["read_models.leads"] if row["customer_key"] == ana]
    assert (lead["customer_phone"], lead["problem"], lead["address"]) == (SUPPRESSED,) * 3
    # The technician's name as Ana's lead recorded it went with her key; Pedro's own rows stay.
    assert (lead["provider_name"], lead["provider_phone"], lead["rating"]) == (SUPPRESSED, SUPPRESSED, 5)
    # Everyone else's rows, and the technicians', are as they were.
    for table, rows in before.items():
        others = [row for row in rows if ana not in repr(row)]
        assert others == [row for row in live_rows[table] if ana not in repr(row)], table
    assert live_rows["read_models.technicians"] == before["read_models.technicians"]


async def test_a_technician_forgotten_while_holding_a_job_only_when_forced_blanked_live_and_on_rebuild(
    pipeline: Pipeline, store: PostgresEventStore
) -> None:
    privacy = protect(store, Settings(privacy_master_key=PRIVACY_MASTER_KEY))
    await three_conversations(pipeline)
    await all_statuses_recorded(pipeline, store)
    await wait_until_caught_up(store, ALL)
    before = await snapshot(store)
    [holder] = [view for view in pipeline.directory.views.values() if view.active_leads]  # Bruno's job
    phone, name = holder.phone, holder.name
    js = pipeline.nats.jetstream()

    refused = await forget(store, privacy, js, phone, requested_by="test", force=False, now=utc_now)
    assert (refused.outcome, refused.provider_id) == (ErasureOutcome.REFUSED_JOB_IN_PROGRESS, holder.provider_id)
    erasure = await forget(store, privacy, js, phone, requested_by="test", force=True, now=utc_now)
    assert (erasure.outcome, erasure.provider_id) == (ErasureOutcome.FORGOTTEN, holder.provider_id)
    assert f"provider-{holder.provider_id}" in erasure.streams and erasure.jetstream_messages_removed > 0
    again = await forget(store, privacy, js, phone, requested_by="test", force=True, now=utc_now)
    assert again.outcome == ErasureOutcome.ALREADY_FORGOTTEN
    await wait_until_caught_up(store, ALL)
    live_rows = await snapshot(store)
    await rebuild(store, ALL, progress=False)
    assert await snapshot(store) == live_rows

    live_text = repr(live_rows)
    assert phone not in live_text and name not in live_text and name.split()[0] not in live_text
    assert name in repr(before)
    for customer in (ANA_CLIENTA, BRUNO_CLIENTE, CARLA_CLIENTA):
        assert customer in live_text  # the customers' own data stays
    [row] = [r for r in live_rows["read_models.technicians"] if r["provider_id"] == holder.provider_id]
    assert (row["name"], row["phone"], row["active"]) == (SUPPRESSED, SUPPRESSED, False)
    [other] = [r for r in before["read_models.technicians"] if r["provider_id"] != holder.provider_id]
    assert other in live_rows["read_models.technicians"]  # the other technician is as they were
    assert not pipeline.directory.views[holder.provider_id].active  # no more offers


async def test_rebuilding_one_projection_leaves_the_others_as_they_were(store: PostgresEventStore) -> None:
    await synthetic_conversations(store, 300)
    await project(store)
    others = [p for p in ALL if p.name != "leads"]
    before = await snapshot(store, others)
    checkpoints = {p.name: await load_checkpoint(store.pool, p.consumer) for p in others}
    await store.pool.execute("UPDATE read_models.leads SET status = 'tampered'")

    result = await rebuild(store, [PROJECTIONS["leads"]], progress=False)

    assert result.projections == ("leads",)
    assert await store.pool.fetchval("SELECT count(*) FROM read_models.leads WHERE status = 'tampered'") == 0
    assert await snapshot(store, others) == before
    assert {p.name: await load_checkpoint(store.pool, p.consumer) for p in others} == checkpoints


async def test_small_batches_an_evicted_cache_and_either_write_path_give_the_same_rows(
    store: PostgresEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    synthetic = Synthetic()
    await synthetic_conversations(store, 1500, synthetic)
    # A customer forgotten halfway: their rows, written and evicted long before, are read back and blanked.
    await forget_in_log(store, await first_customer(store))
    await synthetic_conversations(store, 500, synthetic)
    monkeypatch.setattr(projections.table, "COPY_FROM", 10**9)  # every write as unnest arrays
    await rebuild(store, ALL, progress=False)
    reference = await snapshot(store)

    monkeypatch.setattr(projections.table, "COPY_FROM", 1)  # every write through COPY
    result = await rebuild(store, ALL, batch_size=50, flush_every=120, max_cached_rows=40, progress=False)

    assert await snapshot(store) == reference
    for table in ("read_models.leads", "read_models.conversations", "read_models.outbound_messages"):
        assert SUPPRESSED in repr(reference[table]), table
    assert result.rows_written > len(reference["read_models.outbound_messages"])  # rows were rewritten ...
    assert await load_checkpoint(store.pool, "projection-outbound") != Checkpoint.START  # ... and checkpointed


async def first_customer(store: PostgresEventStore) -> str:
    stream_id = await store.pool.fetchval(
        "SELECT stream_id FROM events WHERE stream_id LIKE 'customer-%' ORDER BY global_position LIMIT 1"
    )
    return str(stream_id).removeprefix("customer-")


async def forget_in_log(store: PostgresEventStore, person_key: str) -> None:
    """The erasure's record alone (the synthetic store seals nothing: only the read models forget)."""
    request = PersonForgotten(
        request_id="r1", person_key=person_key, requested_by="test", outcome=ErasureOutcome.FORGOTTEN,
        streams=person_streams(person_key), decided_at=utc_now(),
    )  # fmt: skip
    await record(store, PRIVACY_REQUESTS_STREAM, [request], at=utc_now(), cause="forget")


async def test_a_rebuild_of_an_empty_store_leaves_empty_tables(store: PostgresEventStore) -> None:
    result = await rebuild(store, ALL, progress=False)
    assert (result.events, result.rows_written) == (0, 0)
    assert all(rows == [] for rows in (await snapshot(store)).values())
