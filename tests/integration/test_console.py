"""The operator console against a real PostgreSQL: logging in, roles, CSRF, rate-limited guesses, and
actions recorded as events that name the operator."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from contracts.operator_events import OperatorRole
from eventstore import PostgresEventStore
from projections.operator_api.app import ApiConfig, create_app
from projections.operator_api.operator_account_store import OperatorAccountStore

pytestmark = pytest.mark.integration

TOKEN = "console-test-token-0123456789"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PASSWORDS = {"ana": "ana-password-123", "vera": "vera-password-123"}


@pytest.fixture
async def store(migrated_database: str) -> AsyncIterator[PostgresEventStore]:
    store = await PostgresEventStore.connect(migrated_database, min_size=1, max_size=4)
    accounts = OperatorAccountStore(store, clock=lambda: NOW)
    await accounts.add("ana", OperatorRole.ADMIN, PASSWORDS["ana"], by="cli")
    await accounts.add("vera", OperatorRole.VIEWER, PASSWORDS["vera"], by="ana")
    yield store
    await store.close()


@pytest.fixture
async def console(store: PostgresEventStore) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ApiConfig(token=TOKEN, clock=lambda: NOW, secure_cookies=False), store=store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://operator") as client:
        yield client


async def log_in(client: httpx.AsyncClient, name: str, password: str | None = None) -> httpx.Response:
    return await client.post("/console/login", data={"name": name, "password": password or PASSWORDS[name]})


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, "the page carries no CSRF token"
    return found.group(1)


async def test_a_page_without_a_session_sends_the_operator_to_the_login_form(console: httpx.AsyncClient) -> None:
    response = await console.get("/console/leads")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=/console/leads"


async def test_the_right_password_opens_the_console_with_a_strict_http_only_cookie(console: httpx.AsyncClient) -> None:
    response = await log_in(console, "ana")
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
    overview = await console.get("/console")
    assert overview.status_code == 200 and "Resumen" in overview.text and "ana · admin" in overview.text


async def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(console: httpx.AsyncClient) -> None:
    wrong = await log_in(console, "ana", "not-the-password")
    unknown = await console.post("/console/login", data={"name": "nobody", "password": "whatever-it-is"})
    assert wrong.status_code == unknown.status_code == 401
    assert "Nombre o contraseña incorrectos" in wrong.text and "Nombre o contraseña incorrectos" in unknown.text
    assert "set-cookie" not in wrong.headers


async def test_wrong_passwords_are_rate_limited_even_when_the_right_one_follows(console: httpx.AsyncClient) -> None:
    for _ in range(5):
        assert (await log_in(console, "ana", "guess-guess-guess")).status_code == 401
    blocked = await log_in(console, "ana")
    assert blocked.status_code == 429 and "Demasiados intentos" in blocked.text


async def test_a_viewer_reads_but_sees_no_admin_button_and_is_refused_with_403(console: httpx.AsyncClient) -> None:
    await log_in(console, "vera")
    page = await console.get("/console/technicians")
    assert page.status_code == 200 and "Registrar un técnico" not in page.text
    refused = await console.post(
        "/console/technicians",
        data={"csrf": csrf_of(page), "name": "Pedro Soto", "phone": "56987654321", "comunas": "Ñuñoa",
              "services": "Gasfiteria"},
    )  # fmt: skip
    assert refused.status_code == 403
    assert (await console.get("/console/operators")).status_code == 403


async def test_a_form_posted_without_its_csrf_token_changes_nothing(
    console: httpx.AsyncClient, store: PostgresEventStore
) -> None:
    await log_in(console, "ana")
    form = {"name": "Pedro Soto", "phone": "56987654321", "comunas": "Ñuñoa", "services": "Gasfiteria"}
    without = await console.post("/console/technicians", data=form)
    forged = await console.post("/console/technicians", data={**form, "csrf": "forged"})
    assert without.status_code == forged.status_code == 403
    assert "CSRF" in without.text
    assert await store.read_all() == [e for e in await store.read_all() if e.type.startswith("Operator")]


async def test_an_admin_registers_a_technician_and_the_event_names_the_operator(
    console: httpx.AsyncClient, store: PostgresEventStore
) -> None:
    await log_in(console, "ana")
    page = await console.get("/console/technicians")
    response = await console.post(
        "/console/technicians",
        data={"csrf": csrf_of(page), "name": "Pedro Soto", "phone": "+56 9 8765 4321", "comunas": "nunoa, Macul",
              "services": ["Gasfiteria", "Electricidad"], "capacity": "3"},
    )  # fmt: skip
    assert response.status_code == 303, response.text
    [registered] = [e for e in await store.read_all() if e.type == "ProviderRegistered"]
    assert registered.data["comunas"] == ["Ñuñoa", "Macul"] and registered.data["phone"] == "56987654321"
    assert registered.metadata.correlation_id.startswith("console-ana-")


async def test_an_unknown_comuna_is_refused_with_the_reason(console: httpx.AsyncClient) -> None:
    await log_in(console, "ana")
    page = await console.get("/console/technicians")
    response = await console.post(
        "/console/technicians",
        data={"csrf": csrf_of(page), "name": "Pedro Soto", "phone": "56987654321", "comunas": "Narnia",
              "services": "Gasfiteria"},
    )  # fmt: skip
    assert response.status_code == 422 and "Narnia" in response.text


async def test_an_admin_adds_an_operator_who_can_log_in_with_the_one_time_password(
    console: httpx.AsyncClient,
) -> None:
    await log_in(console, "ana")
    page = await console.get("/console/operators")
    created = await console.post("/console/operators", data={"csrf": csrf_of(page), "name": "Luis", "role": "agent"})
    assert created.status_code == 200
    found = re.search(r'id="one-time-password">([^<]+)<', created.text)
    assert found
    console.cookies.clear()
    assert (await log_in(console, "luis", found.group(1))).status_code == 303


async def test_disabling_an_operator_ends_their_session_at_once(
    console: httpx.AsyncClient, store: PostgresEventStore
) -> None:
    await log_in(console, "vera")
    assert (await console.get("/console")).status_code == 200
    await OperatorAccountStore(store, clock=lambda: NOW).disable("vera", by="ana")
    assert (await console.get("/console")).status_code == 303
    assert (await log_in(console, "vera")).status_code == 401


async def test_a_login_link_never_sends_the_operator_to_another_site(console: httpx.AsyncClient) -> None:
    response = await console.post(
        "/console/login", data={"name": "ana", "password": PASSWORDS["ana"], "next": "//evil.example/x"}
    )
    assert response.headers["location"] == "/console"
