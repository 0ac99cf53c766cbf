"""The console's «Datos personales» page against a real PostgreSQL: admins only, CSRF on both forms, a
confirmation before erasure, the reason when a phone is malformed or a job is in progress."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from nats.aio.client import Client as NATS

from contracts.operator_events import OperatorRole
from eventstore import PostgresEventStore
from projections.operator_api.app import ApiConfig, create_app
from projections.operator_api.operator_account_store import OperatorAccountStore
from tests.integration.privacy_support import PeopleWorld, protected
from tests.integration.test_console import csrf_of

pytestmark = pytest.mark.integration

TOKEN = "privacy-console-token-0123456789"
CAMILA, PEDRO = "56911110001", "56987650003"
PASSWORDS = {"ana": "ana-password-123", "vera": "vera-password-123"}


@pytest.fixture
async def world(store: PostgresEventStore) -> PeopleWorld:
    world = PeopleWorld(store, protected(store), {CAMILA: "Camila Rojas"})
    accounts = OperatorAccountStore(store, clock=lambda: world.now)
    await accounts.add("ana", OperatorRole.ADMIN, PASSWORDS["ana"], by="cli")
    await accounts.add("vera", OperatorRole.VIEWER, PASSWORDS["vera"], by="cli")
    await world.register("Pedro Soto", PEDRO)
    await world.says(CAMILA, "hola, se rompió la cañería, estoy en ñuñoa")
    await world.taps(CAMILA, "urgency:hoy", "Hoy")
    await world.says(CAMILA, "irarrázaval 1234")
    await world.taps(CAMILA, "confirm:yes", "Sí, confirmo")  # offered to Pedro: a job in progress
    return world


async def logged_in(app: FastAPI, name: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://operator")
    assert (await client.post("/console/login", data={"name": name, "password": PASSWORDS[name]})).status_code == 303
    return client


@pytest.fixture
async def app(world: PeopleWorld, store: PostgresEventStore, nats_client: NATS) -> FastAPI:
    return create_app(ApiConfig(token=TOKEN, clock=lambda: world.now, secure_cookies=False), store=store,
                      jetstream=nats_client.jetstream())  # fmt: skip


@pytest.fixture
async def ana(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    client = await logged_in(app, "ana")
    yield client
    await client.aclose()


async def test_a_viewer_gets_neither_the_page_nor_its_actions(app: FastAPI, world: PeopleWorld) -> None:
    vera = await logged_in(app, "vera")
    assert (await vera.get("/console/privacy")).status_code == 403
    overview = await vera.get("/console")
    assert "Datos personales" not in overview.text
    csrf = csrf_of(overview)
    for action in ("export", "forget"):
        refused = await vera.post(f"/console/privacy/{action}", data={"csrf": csrf, "phone": CAMILA,
                                                                       "confirmed": "true"})  # fmt: skip
        assert refused.status_code == 403
    await vera.aclose()
    assert await world.privacy.people.find(CAMILA) is not None


async def test_forms_need_their_csrf_token_and_a_whatsapp_number(ana: httpx.AsyncClient, world: PeopleWorld) -> None:
    page = await ana.get("/console/privacy")
    assert page.status_code == 200 and "Ninguna todavía" in page.text
    csrf = csrf_of(page)
    no_token = await ana.post("/console/privacy/forget", data={"phone": CAMILA, "confirmed": "true", "force": "true"})
    assert no_token.status_code == 403 and "CSRF" in no_token.text
    malformed = await ana.post("/console/privacy/export", data={"csrf": csrf, "phone": "hola"})
    assert malformed.status_code == 422 and "de 8 a 15 dígitos" in malformed.text
    assert await world.privacy.people.find(CAMILA) is not None


async def test_erasure_is_confirmed_first_and_refused_while_a_job_is_in_progress(
    ana: httpx.AsyncClient, world: PeopleWorld
) -> None:
    csrf = csrf_of(await ana.get("/console/privacy"))
    asked = await ana.post("/console/privacy/forget", data={"csrf": csrf, "phone": CAMILA})
    assert asked.status_code == 200 and "No se puede deshacer" in asked.text
    assert await world.privacy.people.find(CAMILA) is not None  # only asked to confirm
    refused = await ana.post("/console/privacy/forget", data={"csrf": csrf, "phone": CAMILA, "confirmed": "true"})
    assert refused.status_code == 409 and "trabajo en curso" in refused.text
    forced = await ana.post("/console/privacy/forget",
                            data={"csrf": csrf, "phone": CAMILA, "confirmed": "true", "force": "true"})  # fmt: skip
    assert forced.status_code == 200 and "olvidada" in forced.text
    assert await world.privacy.people.find(CAMILA) is None
    assert forced.text.count("<td>erasure</td>") == 2 and CAMILA not in forced.text.split("Solicitudes registradas")[1]
