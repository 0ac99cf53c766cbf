"""``/v1/privacy`` against a real PostgreSQL and NATS: admins export and erase a person; everyone else, and
every malformed request, gets a 4xx with the reason; every request is on the record."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from nats.aio.client import Client as NATS

from contracts.operator_events import OperatorRole
from eventstore import PostgresEventStore
from projections.operator_api.app import ApiConfig, create_app
from projections.operator_api.operator_account_store import OperatorAccountStore
from tests.integration.privacy_support import PeopleWorld, protected

pytestmark = pytest.mark.integration

TOKEN = "privacy-api-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
CAMILA, MARISOL, PEDRO = "56911110001", "56911110002", "56987650003"


@pytest.fixture
async def world(store: PostgresEventStore) -> PeopleWorld:
    """Camila's job accepted by Pedro (in progress); Marisol only asked."""
    world = PeopleWorld(store, protected(store), {CAMILA: "Camila Rojas", MARISOL: "Marisol Quintanilla"})
    accounts = OperatorAccountStore(store, clock=lambda: world.now)
    for name, role in (("ana", OperatorRole.ADMIN), ("beto", OperatorRole.AGENT), ("vera", OperatorRole.VIEWER),
                       ("olga", OperatorRole.ADMIN)):  # fmt: skip
        await accounts.add(name, role, f"{name}-password-123", by="cli")
    await accounts.disable("olga", by="cli")
    await world.register("Pedro Soto", PEDRO)
    await world.says(CAMILA, "hola, se rompió la cañería del baño, estoy en ñuñoa")
    await world.taps(CAMILA, "urgency:hoy", "Hoy")
    await world.says(CAMILA, "irarrázaval 1234 depto 5")
    await world.taps(CAMILA, "confirm:yes", "Sí, confirmo")
    lead = (await world.customer_stream_of(CAMILA)).removeprefix("customer-") + ".1"
    await world.taps(PEDRO, f"offer:accept:{lead}", "Aceptar")
    await world.says(MARISOL, "necesito un cerrajero en providencia")
    return world


@pytest.fixture
async def api(world: PeopleWorld, store: PostgresEventStore, nats_client: NATS) -> AsyncIterator[httpx.AsyncClient]:
    config = ApiConfig(token=TOKEN, clock=lambda: world.now, secure_cookies=False)
    app = create_app(config, store=store, jetstream=nats_client.jetstream())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://operator") as client:
        yield client


async def ask(api: httpx.AsyncClient, action: str, **body: object) -> httpx.Response:
    return await api.post(f"/v1/privacy/{action}", json=body, headers=BEARER)


async def test_an_admin_exports_a_person_and_nothing_of_anyone_else(api: httpx.AsyncClient) -> None:
    response = await ask(api, "export", operator="ana", phone="+56 9 1111 0001")
    assert response.status_code == 200, response.text
    document = response.json()["document"]
    assert document["person"]["phone"] == CAMILA and document["counts"]["messages_in"] == 4
    [lead] = document["leads"]
    assert (lead["status"], lead["address"], lead["technician"]["name"]) == ("assigned", "irarrázaval 1234 depto 5",
                                                                             "Pedro Soto")  # fmt: skip
    assert "Marisol" not in response.text and "cerrajero" not in response.text and PEDRO not in response.text

    unknown = await ask(api, "export", operator="ana", phone="56900000000")
    assert unknown.status_code == 404 and "never seen, or forgotten" in unknown.json()["detail"]


async def test_erasure_waits_for_a_job_in_progress_unless_forced_and_is_idempotent(
    api: httpx.AsyncClient, world: PeopleWorld
) -> None:
    refused = await ask(api, "forget", operator="ana", phone=CAMILA)
    assert refused.status_code == 409 and "job in progress" in refused.json()["detail"]
    assert await world.privacy.people.find(CAMILA) is not None

    forced = await ask(api, "forget", operator="ana", phone=CAMILA, force=True)
    assert forced.status_code == 200, forced.text
    assert forced.json()["outcome"] == "forgotten" and len(forced.json()["streams"]) == 3
    again = await ask(api, "forget", operator="ana", phone=CAMILA)
    assert (again.status_code, again.json()["outcome"], again.json()["person_key"]) == (200, "already_forgotten",
                                                                                         None)  # fmt: skip
    assert (await ask(api, "export", operator="ana", phone=CAMILA)).status_code == 404
    assert (await ask(api, "export", operator="ana", phone=MARISOL)).status_code == 200  # untouched

    listed = await api.get("/v1/privacy/requests", headers=BEARER)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [(r["kind"], r["outcome"], r["requested_by"]) for r in items] == [
        ("erasure", "refused_job_in_progress", "ana"), ("erasure", "forgotten", "ana"),
        ("erasure", "already_forgotten", "ana"), ("export", "not_known", "ana"), ("export", "exported", "ana"),
    ]  # fmt: skip
    assert CAMILA not in listed.text and "Camila" not in listed.text
    later = await api.get("/v1/privacy/requests", params={"since": "2999-01-01T00:00:00Z"}, headers=BEARER)
    assert later.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("action", "body", "status"),
    [
        ("export", {"operator": "vera", "phone": CAMILA}, 403),  # a viewer
        ("forget", {"operator": "beto", "phone": CAMILA}, 403),  # an agent
        ("forget", {"operator": "olga", "phone": CAMILA}, 403),  # a disabled admin
        ("export", {"operator": "nobody", "phone": CAMILA}, 422),
        ("export", {"operator": "Ana Díaz", "phone": CAMILA}, 422),
        ("export", {"operator": "ana"}, 422),
        ("export", {"phone": CAMILA}, 422),
        ("export", {"operator": "ana", "phone": "hola"}, 422),
        ("export", {"operator": "ana", "phone": "1234"}, 422),
        ("export", {"operator": "ana", "phone": "\ud800"}, 422),
        ("forget", {"operator": "ana", "phone": "56911110001\x00"}, 422),
        ("forget", {"operator": "ana", "phone": CAMILA, "force": "maybe"}, 422),
        ("forget", {"operator": "ana", "phone": CAMILA, "extra": 1}, 422),
    ],
)
async def test_bad_requests_get_a_4xx_with_a_reason_and_change_nothing(
    api: httpx.AsyncClient, world: PeopleWorld, action: str, body: dict[str, object], status: int
) -> None:
    content = json.dumps(body, ensure_ascii=True)  # escaped, as a client would send a lone surrogate
    response = await api.post(f"/v1/privacy/{action}", content=content,
                              headers={**BEARER, "Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == status, response.text
    assert response.json()["detail"]
    assert await world.privacy.people.find(CAMILA) is not None
    assert (await api.get("/v1/privacy/requests", headers=BEARER)).json() == {"items": [], "next_cursor": None}


async def test_the_endpoints_need_the_bearer_token_and_a_well_formed_body(api: httpx.AsyncClient) -> None:
    assert (await api.post("/v1/privacy/export", json={"operator": "ana", "phone": CAMILA})).status_code == 401
    assert (await api.get("/v1/privacy/requests")).status_code == 401
    json_header = {**BEARER, "Content-Type": "application/json"}
    not_json = await api.post("/v1/privacy/forget", content=b"{", headers=json_header)
    assert not_json.status_code in (400, 422) and not_json.json()["detail"]
    naive = await api.get("/v1/privacy/requests", params={"since": "2026-12-01T00:00:00"}, headers=BEARER)
    assert naive.status_code == 422


async def test_without_nats_erasure_is_refused_rather_than_left_half_done(
    world: PeopleWorld, store: PostgresEventStore
) -> None:
    app = create_app(ApiConfig(token=TOKEN, clock=lambda: world.now, secure_cookies=False), store=store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://operator") as api:
        response = await ask(api, "forget", operator="ana", phone=MARISOL)
    assert response.status_code == 503 and "JetStream" in response.json()["detail"]
    assert await world.privacy.people.find(MARISOL) is not None
