"""The operator API against a real PostgreSQL: auth, filters and pages, history and timelines, 404s and
422s with reasons, and technician changes that are recorded as events."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from contracts.intent import Service
from contracts.outbound import (
    DeliveryStatus,
    RecipientRole,
    ReplyDeliveryUpdated,
    ReplyQueued,
    ReplySendAttempted,
    ReplySendSettled,
    ReplySent,
    Settlement,
    TextMessage,
    sender_stream_id,
)
from eventstore import PostgresEventStore
from orchestrator.identity import deliveries_stream_id
from privacy.people import legacy_provider_id as provider_id_for_phone
from projections.operator_api.app import ApiConfig, create_app
from tests.integration.projections_support import project, record
from tests.unit.audit_support import customer_key

pytestmark = pytest.mark.integration

TOKEN = "operator-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOW = datetime(2025, 4, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(seeded_store: PostgresEventStore) -> PostgresEventStore:
    return seeded_store


@pytest.fixture
async def api(store: PostgresEventStore) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ApiConfig(token=TOKEN, clock=lambda: NOW), store=store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://operator") as client:
        yield client


async def get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


async def all_leads(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = await get(client, "/v1/leads", limit=200, **params)
    items += page["items"]
    while page["next_cursor"]:
        page = await get(client, "/v1/leads", limit=200, cursor=page["next_cursor"], **params)
        items += page["items"]
    return items


V1_GETS = ["/v1/leads", "/v1/leads/x.1", "/v1/conversations/x", "/v1/conversations/x/timeline",
           "/v1/streams/customer-x/events", "/v1/providers", "/v1/stats"]  # fmt: skip


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}])
async def test_every_operator_endpoint_refuses_a_missing_or_wrong_token(
    api: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for path in V1_GETS:
        response = await api.get(path, headers=headers)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
    for response in (
        await api.post("/v1/providers", json={}, headers=headers),
        await api.patch("/v1/providers/p1", json={"capacity": 3}, headers=headers),
    ):
        assert response.status_code == 401


async def test_health_and_metrics_need_no_token_and_metrics_report_each_projections_lag(
    api: httpx.AsyncClient,
) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    metrics = (await api.get("/metrics")).text
    for projection in ("leads", "conversations", "technicians", "outbound", "daily_counters", "operators"):
        assert f'projection_lag_events{{projection="{projection}"}} 0.0' in metrics
        assert f'projection_lag_seconds{{projection="{projection}"}}' in metrics


async def test_leads_come_newest_first_in_pages_that_neither_skip_nor_repeat(
    api: httpx.AsyncClient, store: PostgresEventStore
) -> None:
    expected = [r[0] for r in await store.pool.fetch(
        "SELECT lead_id FROM read_models.leads ORDER BY created_at DESC, lead_id DESC"
    )]  # fmt: skip
    seen: list[str] = []
    page = await get(api, "/v1/leads", limit=7)
    while True:
        seen += [item["lead_id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        page = await get(api, "/v1/leads", limit=7, cursor=page["next_cursor"])
    assert len(expected) > 20 and seen == expected


async def test_leads_are_filtered_by_status_service_comuna_customer_and_creation_time(api: httpx.AsyncClient) -> None:
    everything = await all_leads(api)
    rated = await all_leads(api, status="rated")
    assert rated and {lead["status"] for lead in rated} == {"rated"}
    assert len(rated) == sum(lead["status"] == "rated" for lead in everything)

    plumbing = await all_leads(api, service="Gasfiteria")
    assert plumbing and all(lead["service"] == "Gasfiteria" for lead in plumbing)

    comuna = next(lead["comuna"] for lead in everything if lead["comuna"] == "Ñuñoa")
    in_nunoa = await all_leads(api, comuna="nunoa")  # accents and case optional
    assert in_nunoa == [lead for lead in everything if lead["comuna"] == comuna]

    someone = everything[3]
    assert [lead["lead_id"] for lead in await all_leads(api, customer=someone["customer_id"])] == [someone["lead_id"]]
    assert [lead["lead_id"] for lead in await all_leads(api, phone=someone["customer_phone"])] == [someone["lead_id"]]

    times = sorted(datetime.fromisoformat(lead["created_at"]) for lead in everything)
    start, end = times[len(times) // 4], times[len(times) // 2]
    window = await all_leads(api, created_from=start.isoformat(), created_to=end.isoformat())
    assert window and all(start <= datetime.fromisoformat(lead["created_at"]) < end for lead in window)
    assert len(window) == sum(start <= t < end for t in times)


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"status": "happy"}, "status"),
        ({"service": "Carpinteria"}, "service"), ({"comuna": "Narnia"}, "comuna"), ({"cursor": "nope"}, "cursor"),
        ({"customer": "a b"}, "customer"), ({"phone": "+56 9 1234 5678"}, "phone"),
        ({"created_from": "yesterday"}, "created_from"),
        ({"created_from": "2025-03-02T00:00:00Z", "created_to": "2025-03-01T00:00:00Z"}, "created_to"),
        ({"created_from": "0001-01-01T00:00:00+14:00"}, "created_from"),
        ({"created_from": "2025-03-01"}, "created_from"), ({"created_from": "2025-03-01T00:00:00"}, "created_from"),
        ({"created_from": "1740787200"}, "created_from"), ({"stauts": "rated"}, "stauts"),
    ],
)  # fmt: skip
async def test_a_bad_lead_filter_gets_a_422_naming_the_parameter_and_why(
    api: httpx.AsyncClient, params: dict[str, Any], parameter: str
) -> None:
    response = await api.get("/v1/leads", params=params, headers=AUTH)
    assert response.status_code == 422
    [issue] = response.json()["detail"]
    assert issue["loc"][-1] == parameter and issue["msg"]


async def test_a_method_a_path_does_not_have_is_answered_with_every_method_it_has(api: httpx.AsyncClient) -> None:
    response = await api.delete("/v1/providers", headers=AUTH)
    assert (response.status_code, response.headers["allow"]) == (405, "GET, POST")


async def test_a_lead_comes_with_its_history_from_its_customers_stream(api: httpx.AsyncClient) -> None:
    [lead] = [lead for lead in await all_leads(api, status="rated")][:1]
    detail = await get(api, f"/v1/leads/{lead['lead_id']}")
    history = detail["history"]
    assert detail["lead_id"] == lead["lead_id"] and detail["rating"] is not None
    assert history[0]["type"] == "LeadDrafted" and "LeadRated" in [e["type"] for e in history]
    assert all(e["data"]["lead_id"] == lead["lead_id"] for e in history)
    assert all(e["stream_id"] == f"customer-{lead['customer_id']}" for e in history)
    versions = [e["stream_version"] for e in history]
    assert versions == sorted(versions)


@pytest.mark.parametrize(
    "path",
    ["/v1/leads/nobody.1", "/v1/conversations/nobody", "/v1/conversations/nobody/timeline",
     "/v1/streams/customer-nobody/events"],
)  # fmt: skip
async def test_what_does_not_exist_is_a_404_with_a_reason(api: httpx.AsyncClient, path: str) -> None:
    response = await api.get(path, headers=AUTH)
    assert response.status_code == 404
    assert "nobody" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/v1/leads/not-a-lead", "/v1/conversations/a.b", "/v1/streams/a%20b/events"])
async def test_an_id_of_the_wrong_shape_is_a_422(api: httpx.AsyncClient, path: str) -> None:
    assert (await api.get(path, headers=AUTH)).status_code == 422


async def test_a_conversation_shows_its_state_what_it_waits_for_its_fields_and_its_lead(
    api: httpx.AsyncClient,
) -> None:
    lead = (await all_leads(api, status="rated"))[0]
    conversation = await get(api, f"/v1/conversations/{lead['customer_id']}")
    assert (conversation["state"], conversation["pending_question"]) == ("closed", "none")
    assert conversation["current_lead"]["lead_id"] == lead["lead_id"]
    assert conversation["fields"]["comuna"] == lead["comuna"]
    assert conversation["messages_in"] == 5 and conversation["phone"] == lead["customer_phone"]
    assert [m["direction"] for m in conversation["recent_messages"]][:2] == ["in", "out"]


async def test_a_timeline_has_every_message_understanding_decision_and_delivery_in_order(
    api: httpx.AsyncClient,
) -> None:
    lead = (await all_leads(api, status="rated"))[0]
    path = f"/v1/conversations/{lead['customer_id']}/timeline"
    timeline = (await get(api, path))["entries"]
    kinds = {entry["kind"] for entry in timeline}
    assert kinds >= {"message_in", "understanding", "decision", "message_out", "sent", "delivery"}
    assert {e["actor"] for e in timeline if e["kind"] == "understanding"} <= {"rules", "llm", "interactive"}
    assert {e["actor"] for e in timeline if e["kind"] == "message_in"} == {"customer", "technician"}
    positions = [entry["position"] for entry in timeline]
    assert positions == sorted(positions)
    paged: list[dict[str, Any]] = []
    page = await get(api, path, limit=9)
    while True:
        paged += page["entries"]
        if page["next_after"] is None:
            break
        page = await get(api, path, limit=9, after=page["next_after"])
    assert paged == timeline


async def test_a_stream_is_served_page_by_page_as_stored(api: httpx.AsyncClient) -> None:
    lead = (await all_leads(api, status="rated"))[0]
    stream = f"customer-{lead['customer_id']}"
    first = await get(api, f"/v1/streams/{stream}/events", limit=10)
    second = await get(api, f"/v1/streams/{stream}/events", limit=10, from_version=first["next_from_version"])
    versions = [e["stream_version"] for e in first["events"] + second["events"]]
    assert versions == list(range(1, 21))
    assert first["events"][0]["metadata"]["correlation_id"]


async def test_registering_a_technician_records_an_event_and_lists_them(
    api: httpx.AsyncClient, store: PostgresEventStore
) -> None:
    body = {"name": "Rosa Díaz", "phone": "56933332222", "services": ["Cerrajeria"],
            "comunas": ["nunoa", "Macul"], "capacity": 3}  # fmt: skip
    created = await api.post("/v1/providers", json=body, headers=AUTH)
    assert created.status_code == 201, created.text
    technician = created.json()
    provider_id = technician["provider_id"]
    # A person key (random; the phone maps to it only through the keyed, erasable lookup), never the hash.
    assert re.fullmatch(r"p[0-9a-f]{20}", provider_id) and provider_id != provider_id_for_phone("56933332222")
    assert (technician["comunas"], technician["active"]) == (["Macul", "Ñuñoa"], True)
    assert [e.type for e in await store.read_stream(f"provider-{provider_id}")] == ["ProviderRegistered"]

    again = await api.post("/v1/providers", json=body, headers=AUTH)
    assert again.status_code == 201  # the same registration twice changes nothing ...
    assert len(await store.read_stream(f"provider-{provider_id}")) == 1
    clash = await api.post("/v1/providers", json={**body, "name": "Otra Persona"}, headers=AUTH)
    assert clash.status_code == 409 and "already registered" in clash.json()["detail"]  # ... different details clash

    await project(store)
    listed = (await get(api, "/v1/providers", service="Cerrajeria", comuna="Ñuñoa"))["items"]
    assert provider_id in [p["provider_id"] for p in listed]
    assert all("Cerrajeria" in p["services"] and "Ñuñoa" in p["comunas"] for p in listed)
    [rosa] = [p for p in listed if p["provider_id"] == provider_id]
    assert rosa["registered_at"] is not None and rosa["jobs_completed"] == 0


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"comunas": ["Narnia"]}, "comunas"), ({"phone": "+56 9 3333 2222"}, "phone"), ({"services": []}, "services"),
        ({"capacity": 0}, "capacity"), ({"name": "a\u0000b"}, "name"), ({"unexpected": 1}, "unexpected"),
    ],
)  # fmt: skip
async def test_a_bad_registration_gets_a_422_naming_the_field(
    api: httpx.AsyncClient, body: dict[str, Any], parameter: str
) -> None:
    valid = {"name": "Rosa Díaz", "phone": "56933332222", "services": ["Cerrajeria"], "comunas": ["Macul"]}
    response = await api.post("/v1/providers", json={**valid, **body}, headers=AUTH)
    assert response.status_code == 422
    assert parameter in [str(part) for issue in response.json()["detail"] for part in issue["loc"]]


async def test_each_change_to_a_technician_is_recorded_as_an_event(
    api: httpx.AsyncClient, store: PostgresEventStore
) -> None:
    stream = "provider-tech000"
    before = len(await store.read_stream(stream))
    changed = await api.patch("/v1/providers/tech000", json={"capacity": 5, "comunas": ["Macul"]}, headers=AUTH)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["capacity"], changed.json()["comunas"]) == (5, ["Macul"])
    paused = await api.patch("/v1/providers/tech000", json={"active": False, "reason": "vacaciones"}, headers=AUTH)
    assert paused.json()["active"] is False
    resumed = await api.patch("/v1/providers/tech000", json={"active": True}, headers=AUTH)
    assert resumed.json()["active"] is True
    events = (await store.read_stream(stream))[before:]
    assert [e.type for e in events] == ["ProviderUpdated", "ProviderDeactivated", "ProviderActivated"]
    assert events[1].data["reason"] == "vacaciones"


@pytest.mark.parametrize(
    ("provider", "body", "status"),
    [
        ("nobody", {"capacity": 3}, 404), ("tech000", {}, 422), ("tech000", {"reason": "x"}, 422),
        ("tech000", {"capacity": 51}, 422), ("tech000", {"services": ["Carpinteria"]}, 422),
        ("tech000", {"comunas": ["Narnia"]}, 422), ("not an id", {"capacity": 3}, 422),
    ],
)  # fmt: skip
async def test_a_change_that_cannot_be_made_is_refused_with_a_reason(
    api: httpx.AsyncClient, provider: str, body: dict[str, Any], status: int
) -> None:
    response = await api.patch(f"/v1/providers/{provider}", json=body, headers=AUTH)
    assert response.status_code == status
    assert response.json()["detail"]


async def test_stats_add_up_to_the_read_models(api: httpx.AsyncClient, store: PostgresEventStore) -> None:
    stats = await get(api, "/v1/stats", days=366)
    assert sum(stats["leads_by_status"].values()) == await store.pool.fetchval("SELECT count(*) FROM read_models.leads")
    assert stats["technicians"]["registered"] == 6
    assert sum(day["leads_created"] for day in stats["daily"]) == sum(stats["leads_by_status"].values())
    assert [p["projection"] for p in stats["projections"]] == [
        "leads", "conversations", "technicians", "outbound", "daily_counters", "operators",
    ]  # fmt: skip
    assert stats["deliveries_by_status"]["read"] > 0


async def test_a_delivery_status_projected_before_its_send_still_shows_against_the_reply(
    api: httpx.AsyncClient, store: PostgresEventStore
) -> None:
    reply_id, phone = uuid.uuid4(), "56900001111"
    queued = ReplyQueued(reply_id=reply_id, to=phone, recipient=RecipientRole.CUSTOMER, purpose="test",
                         message=TextMessage(body="hola"), in_reply_to="wamid.in")  # fmt: skip
    await record(store, "customer-early", [queued], at=NOW, cause="q")
    # Meta's status overtakes the sender's record of the send:
    status = ReplyDeliveryUpdated(wamid="wamid.EARLY", status=DeliveryStatus.DELIVERED, occurred_at=NOW)
    await record(store, deliveries_stream_id(customer_key(phone)), [status], at=NOW, cause="s")
    await project(store)
    await record(store, "customer-early", [ReplySent(reply_id=reply_id, wamid="wamid.EARLY", sent_at=NOW)],
                 at=NOW + timedelta(seconds=1), cause="r")  # fmt: skip
    await project(store)
    row = await store.pool.fetchrow(
        "SELECT status, delivery_status FROM read_models.outbound_with_delivery WHERE reply_id = $1", reply_id
    )
    assert row is not None and (row["status"], row["delivery_status"]) == ("sent", "delivered")


async def test_the_openapi_document_describes_every_operation_and_its_errors(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    operations = [(path, method, op) for path, ops in document["paths"].items() for method, op in ops.items()]
    assert len(operations) == 21  # with the dead-letter reads, handed-over conversations and /v1/privacy
    for path, method, operation in operations:
        responses = operation["responses"]
        success = responses.get("200") or responses.get("201")
        assert success and success["content"], (method, path)
        assert "503" in responses
        if path.startswith("/v1/"):
            assert "401" in responses and operation["security"] == [{"OperatorToken": []}]
            assert "422" in responses, (method, path)
    assert Service.GASFITERIA.value in str(document["components"]["schemas"]["Service"])


async def test_a_timeline_shows_what_the_sender_recorded_on_its_own_stream(
    api: httpx.AsyncClient, store: PostgresEventStore
) -> None:
    # The seeded store holds the sender's records the old way (on the customer's stream); here, today's way.
    reply_id, phone = uuid.uuid4(), "56900002222"
    customer_id = customer_key(phone)
    stream_id = f"customer-{customer_id}"
    queued = ReplyQueued(reply_id=reply_id, to=phone, recipient=RecipientRole.CUSTOMER, purpose="test",
                         message=TextMessage(body="hola"), in_reply_to="wamid.in")  # fmt: skip
    await record(store, stream_id, [queued], at=NOW, cause="q")
    attempted = ReplySendAttempted(reply_id=reply_id, attempt=1, attempted_at=NOW)
    settled = ReplySendSettled(reply_id=reply_id, attempt=1, settled_by=Settlement.CONFIRMED_BY_STATUS,
                               settled_at=NOW, wamid="wamid.NEW", status=DeliveryStatus.SENT)  # fmt: skip
    sent = ReplySent(reply_id=reply_id, wamid="wamid.NEW", sent_at=NOW)
    await record(store, sender_stream_id(stream_id), [attempted], at=NOW, cause="a")
    await record(store, sender_stream_id(stream_id), [settled, sent], at=NOW, cause="o")
    status = ReplyDeliveryUpdated(wamid="wamid.NEW", reply_id=reply_id, status=DeliveryStatus.READ, occurred_at=NOW)
    await record(store, deliveries_stream_id(customer_key(phone)), [status], at=NOW, cause="s")

    entries = (await get(api, f"/v1/conversations/{customer_id}/timeline"))["entries"]

    assert [(e["type"], e["kind"], e["ref"]) for e in entries] == [
        ("ReplyQueued", "message_out", str(reply_id)),
        ("ReplySendSettled", "decision", str(reply_id)),
        ("ReplySent", "sent", str(reply_id)),
        ("ReplyDeliveryUpdated", "delivery", str(reply_id)),
    ]
    assert "not sent again" in entries[1]["summary"]
