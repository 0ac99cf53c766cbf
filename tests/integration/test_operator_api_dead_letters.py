"""``/v1/deadletters`` against a real JetStream: what was parked, by whom and why, paged; the gauge."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import pytest
from nats.aio.client import Client as NATS

from contracts.subjects import (
    DEADLETTER_INGRESS,
    DEADLETTER_ORCHESTRATOR,
    ORIGINAL_SUBJECT_HEADER,
    REASON_HEADER,
    ingress_part_subject,
)
from eventstore import PostgresEventStore
from infra.jetstream import ensure_topology
from projections.operator_api.app import ApiConfig, create_app

TOKEN = "dead-letter-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def api(migrated_database: str, nats_client: NATS) -> AsyncIterator[httpx.AsyncClient]:
    js = nats_client.jetstream()
    await ensure_topology(js)
    await js.publish(DEADLETTER_INGRESS, b"\xff not json", headers={REASON_HEADER: "invalid JSON: bad byte"})
    await js.publish(
        DEADLETTER_ORCHESTRATOR,
        b'{"kind": "message", "wamid": "wamid.X"}',
        headers={REASON_HEADER: "failed 6 times: boom", ORIGINAL_SUBJECT_HEADER: "conectapro.inbound.p1.abc"},
    )
    await js.publish(DEADLETTER_INGRESS, b"", headers={REASON_HEADER: "invalid JSON: empty"})
    store = await PostgresEventStore.connect(migrated_database, max_size=2)
    app = create_app(ApiConfig(token=TOKEN), store=store, jetstream=js)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://operator") as client:
            yield client
    finally:
        await store.close()


async def test_every_parked_message_is_listed_oldest_first_with_who_parked_it_and_why(api: httpx.AsyncClient) -> None:
    page = (await api.get("/v1/deadletters", headers=AUTH)).json()

    assert [(i["source"], i["reason"], i["bytes"]) for i in page["items"]] == [
        ("ingress", "invalid JSON: bad byte", 10),
        ("orchestrator", "failed 6 times: boom", 39),
        ("ingress", "invalid JSON: empty", 0),
    ]
    assert page["items"][1]["original_subject"] == "conectapro.inbound.p1.abc"
    assert all(item["parked_at"] for item in page["items"])
    assert page["next_after"] is None


async def test_letters_are_filtered_by_source_and_paged_by_sequence(api: httpx.AsyncClient) -> None:
    first = (await api.get("/v1/deadletters", params={"source": "ingress", "limit": 1}, headers=AUTH)).json()
    second = (
        await api.get("/v1/deadletters", params={"source": "ingress", "after": first["next_after"]}, headers=AUTH)
    ).json()

    assert [i["reason"] for i in first["items"] + second["items"]] == ["invalid JSON: bad byte", "invalid JSON: empty"]
    assert second["next_after"] is None


async def test_the_ingress_letters_of_unreadable_parts_are_listed_as_the_ingress_s(
    api: httpx.AsyncClient, nats_client: NATS
) -> None:
    js = nats_client.jetstream()
    parts = [
        ("0" * 32, "unreadable message at entry.0.changes.0.value.messages.0: ValidationError (...)"),
        (None, "unreadable change at entry.0.changes.1: ValidationError (...)"),
    ]
    for token, reason in parts:
        await js.publish(ingress_part_subject(token, reason), b"{}", headers={REASON_HEADER: reason})

    page = (await api.get("/v1/deadletters", params={"source": "ingress"}, headers=AUTH)).json()

    reasons = [item["reason"] for item in page["items"]]
    assert reasons == ["invalid JSON: bad byte", "invalid JSON: empty", *(reason for _, reason in parts)]


async def test_one_letter_comes_with_its_payload(api: httpx.AsyncClient) -> None:
    sequences = [i["sequence"] for i in (await api.get("/v1/deadletters", headers=AUTH)).json()["items"]]

    binary = (await api.get(f"/v1/deadletters/{sequences[0]}", headers=AUTH)).json()
    text = (await api.get(f"/v1/deadletters/{sequences[1]}", headers=AUTH)).json()

    assert base64.b64decode(binary["payload_base64"]) == b"\xff not json" and binary["payload_text"] is None
    assert text["payload_text"] == '{"kind": "message", "wamid": "wamid.X"}'
    assert (await api.get("/v1/deadletters/999999", headers=AUTH)).status_code == 404


@pytest.mark.parametrize(
    "params", [{"after": -1}, {"after": 2**80}, {"limit": 0}, {"source": "elsewhere"}, {"after": "1; DROP"}]
)
async def test_odd_queries_are_refused_with_a_reason(api: httpx.AsyncClient, params: dict[str, int | str]) -> None:
    response = await api.get("/v1/deadletters", params=params, headers=AUTH)

    assert response.status_code == 422, response.text


async def test_the_gauge_counts_the_parked_messages_by_source(api: httpx.AsyncClient) -> None:
    metrics = (await api.get("/metrics")).text

    assert 'dead_letters_parked{source="ingress"} 2.0' in metrics
    assert 'dead_letters_parked{source="orchestrator"} 1.0' in metrics
    assert 'dead_letters_parked{source="commands"} 0.0' in metrics


async def test_without_a_way_to_reach_nats_the_list_says_so(migrated_database: str) -> None:
    store = await PostgresEventStore.connect(migrated_database, max_size=2)
    app = create_app(ApiConfig(token=TOKEN), store=store)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://operator") as client:
            response = await client.get("/v1/deadletters", headers=AUTH)
    finally:
        await store.close()

    assert response.status_code == 503
    assert "not configured" in response.json()["detail"]
