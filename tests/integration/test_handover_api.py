"""Handed-over conversations against a real PostgreSQL: the queue, taking, writing inside WhatsApp's 24-hour
window and handing back, through the JSON API and the console (roles, CSRF), and the one-click audit."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from audit.runner import audit_stream
from contracts.lead_events import MessageReceived, SenderRole
from contracts.operator_events import OperatorRole
from eventstore import PostgresEventStore
from projections.operator_api.app import ApiConfig, create_app
from projections.operator_api.operator_account_store import OperatorAccountStore
from tests.integration.projections_support import project, record
from tests.unit.audit_support import CAMILA, World, customer_key, customer_stream, offered_to_juana

pytestmark = pytest.mark.integration

TOKEN = "handover-test-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
PASSWORDS = {
    "ana": "ana-password-123",
    "beto": "beto-password-123",
    "carla": "carla-password-123",
    "vera": "vera-password-123",
}
KEY = customer_key(CAMILA)


@pytest.fixture
async def world(store: PostgresEventStore) -> World:
    world = World(store)
    accounts = OperatorAccountStore(store, clock=lambda: world.now)
    await accounts.add("ana", OperatorRole.AGENT, PASSWORDS["ana"], by="cli")
    await accounts.add("beto", OperatorRole.AGENT, PASSWORDS["beto"], by="cli")
    await accounts.add("carla", OperatorRole.ADMIN, PASSWORDS["carla"], by="cli")
    await accounts.add("vera", OperatorRole.VIEWER, PASSWORDS["vera"], by="cli")
    await offered_to_juana(world)
    await world.says(CAMILA, "quiero hablar con una persona")
    await project(store)
    return world


@pytest.fixture
async def api(world: World, store: PostgresEventStore) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ApiConfig(token=TOKEN, clock=lambda: world.now, secure_cookies=False), store=store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://operator") as client:
        yield client


async def act(api: httpx.AsyncClient, action: str, **body: str) -> httpx.Response:
    return await api.post(f"/v1/conversations/{KEY}/{action}", json=body, headers=BEARER)


async def test_the_queue_lists_the_conversation_waiting_with_its_window(api: httpx.AsyncClient, world: World) -> None:
    response = await api.get("/v1/handovers", headers=BEARER)
    assert response.status_code == 200
    [waiting] = response.json()["items"]
    assert waiting["customer_id"] == KEY and waiting["taken_by"] is None
    assert waiting["resume_at"] == "waiting_technician" and waiting["window_open"] is True


async def test_an_agent_takes_writes_and_hands_back_through_the_json_api(
    api: httpx.AsyncClient, store: PostgresEventStore, world: World
) -> None:
    assert (await act(api, "messages", operator="ana", text="Hola")).status_code == 409  # not taken yet
    taken = await act(api, "take", operator="ana")
    assert taken.status_code == 200 and taken.json()["taken_by"] == "ana"
    written = await act(api, "messages", operator="ana", text="Hola Camila, soy Ana de ConectaPro.")
    assert written.status_code == 200
    [reply] = [e for e in await store.read_stream(customer_stream(CAMILA)) if e.data.get("written_by") == "ana"]
    assert reply.type == "ReplyQueued" and reply.data["message"]["body"] == "Hola Camila, soy Ana de ConectaPro."
    back = await act(api, "hand-back", operator="ana")
    assert back.status_code == 200 and back.json()["state"] == "waiting_technician"
    assert back.json()["handed_over"] is False
    refused = await act(api, "messages", operator="ana", text="¿sigue ahí?")
    assert refused.status_code == 409 and "not handed over" in refused.json()["detail"]
    assert (await audit_stream(store, customer_stream(CAMILA))).clean


async def test_only_the_agent_who_took_the_conversation_or_an_admin_hands_it_back(
    api: httpx.AsyncClient, store: PostgresEventStore
) -> None:
    nobody = await act(api, "hand-back", operator="beto")
    assert nobody.status_code == 409 and "nobody has taken it" in nobody.json()["detail"]
    assert (await act(api, "take", operator="ana")).status_code == 200
    another = await act(api, "hand-back", operator="beto")
    assert another.status_code == 409
    assert another.json()["detail"] == (
        "only the operator who took the conversation, or an admin, hands it back (it is taken by ana)"
    )
    assert (await api.get(f"/v1/conversations/{KEY}/handover", headers=BEARER)).json()["taken_by"] == "ana"
    back = await act(api, "hand-back", operator="carla")  # an admin: a supervisor's override
    assert back.status_code == 200 and back.json()["handed_over"] is False
    [handed_back] = [e for e in await store.read_stream(customer_stream(CAMILA)) if e.type == "ConversationHandedBack"]
    assert (handed_back.data["by"], handed_back.data["authority"]) == ("carla", "admin")
    assert (await audit_stream(store, customer_stream(CAMILA))).clean


async def test_outside_the_24_hour_window_writing_is_refused_with_the_reason(
    api: httpx.AsyncClient, world: World
) -> None:
    assert (await act(api, "take", operator="ana")).status_code == 200
    world.advance(hours=24, minutes=1)
    refused = await act(api, "messages", operator="ana", text="Hola")
    assert refused.status_code == 409 and "24-hour" in refused.json()["detail"]
    assert (await api.get(f"/v1/conversations/{KEY}/handover", headers=BEARER)).json()["window_open"] is False


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        (f"/v1/conversations/{KEY}/take", {"operator": "vera"}, 403),  # a viewer
        (f"/v1/conversations/{KEY}/take", {"operator": "nobody"}, 422),
        (f"/v1/conversations/{KEY}/take", {}, 422),
        (f"/v1/conversations/{KEY}/take", {"operator": "ana", "extra": 1}, 422),
        ("/v1/conversations/nobody-here/take", {"operator": "ana"}, 404),
        (f"/v1/conversations/{KEY}/messages", {"operator": "ana", "text": ""}, 422),
        (f"/v1/conversations/{KEY}/messages", {"operator": "ana", "text": "a\x00b"}, 422),
        (f"/v1/conversations/{KEY}/messages", {"operator": "ana", "text": "\ud800"}, 422),
        (f"/v1/conversations/{KEY}/messages", {"operator": "ana", "text": "x" * 4097}, 422),
        (f"/v1/conversations/{KEY}/hand-back", {"operator": "Ana Díaz"}, 422),
    ],
)
async def test_bad_requests_get_a_4xx_with_a_reason(
    api: httpx.AsyncClient, path: str, body: dict[str, object], status: int
) -> None:
    # Escaped JSON, as a client would send a lone surrogate.
    content = json.dumps(body, ensure_ascii=True)
    response = await api.post(path, content=content, headers={**BEARER, "Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert response.json()["detail"]


async def test_the_actions_need_the_bearer_token(api: httpx.AsyncClient) -> None:
    assert (await api.post(f"/v1/conversations/{KEY}/take", json={"operator": "ana"})).status_code == 401


# ------------------------------------------------------------------------------------------ console


async def log_in(client: httpx.AsyncClient, name: str) -> None:
    response = await client.post("/console/login", data={"name": name, "password": PASSWORDS[name]})
    assert response.status_code == 303


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, "the page carries no CSRF token"
    return found.group(1)


async def test_in_the_console_an_agent_takes_writes_and_hands_back(
    api: httpx.AsyncClient, store: PostgresEventStore
) -> None:
    await log_in(api, "ana")
    overview = await api.get("/console")
    assert re.search(r'id="handed-over-count">1<', overview.text)
    queue = await api.get("/console/handovers")
    assert queue.status_code == 200 and KEY in queue.text and "esperando" in queue.text
    csrf = csrf_of(queue)
    taken = await api.post(f"/console/conversations/{KEY}/take", data={"csrf": csrf})
    assert taken.status_code == 303
    page = await api.get(taken.headers["location"])
    assert "Conversación tomada" in page.text and 'name="text"' in page.text
    written = await api.post(f"/console/conversations/{KEY}/write", data={"csrf": csrf, "text": "Hola, soy Ana."})
    assert "Mensaje enviado" in (await api.get(written.headers["location"])).text
    back = await api.post(f"/console/conversations/{KEY}/hand-back", data={"csrf": csrf})
    assert "devuelta al asistente" in (await api.get(back.headers["location"])).text
    types = [e.type for e in await store.read_stream(customer_stream(CAMILA))]
    assert types.count("ConversationTaken") == 1 and types.count("ConversationHandedBack") == 1


async def test_in_the_console_the_hand_back_button_is_only_for_the_holder_and_admins(
    api: httpx.AsyncClient, store: PostgresEventStore
) -> None:
    buttons = {}
    for name in ("ana", "beto", "carla"):
        await log_in(api, name)
        if name == "ana":
            csrf = csrf_of(await api.get("/console/handovers"))
            await api.post(f"/console/conversations/{KEY}/take", data={"csrf": csrf})
        page = await api.get(f"/console/conversations/{KEY}")
        buttons[name] = ("Tomar conversación" in page.text, "Devolver al asistente" in page.text)
    assert buttons == {"ana": (False, True), "beto": (True, False), "carla": (True, True)}

    await log_in(api, "beto")  # an agent who did not take it, sending the form anyway
    csrf = csrf_of(await api.get(f"/console/conversations/{KEY}"))
    refused = await api.post(f"/console/conversations/{KEY}/hand-back", data={"csrf": csrf})
    assert "Solo quien tomó la conversación" in (await api.get(refused.headers["location"])).text
    assert not [e for e in await store.read_stream(customer_stream(CAMILA)) if e.type == "ConversationHandedBack"]


async def test_in_the_console_outside_the_window_the_page_says_why(api: httpx.AsyncClient, world: World) -> None:
    await log_in(api, "ana")
    csrf = csrf_of(await api.get("/console/handovers"))
    await api.post(f"/console/conversations/{KEY}/take", data={"csrf": csrf})
    world.advance(hours=25)
    page = await api.get(f"/console/conversations/{KEY}")
    assert "Ventana de 24 h de WhatsApp cerrada" in page.text
    refused = await api.post(f"/console/conversations/{KEY}/write", data={"csrf": csrf, "text": "Hola"})
    assert "pasaron más de 24 horas" in (await api.get(refused.headers["location"])).text


async def test_a_viewer_sees_the_queue_without_buttons_and_is_refused_with_403(
    api: httpx.AsyncClient, store: PostgresEventStore
) -> None:
    await log_in(api, "vera")
    queue = await api.get("/console/handovers")
    assert KEY in queue.text and "Tomar" not in queue.text
    page = await api.get(f"/console/conversations/{KEY}")
    assert "Tomar conversación" not in page.text and "Devolver al asistente" not in page.text
    csrf = csrf_of(page)
    for action in ("take", "hand-back"):
        assert (await api.post(f"/console/conversations/{KEY}/{action}", data={"csrf": csrf})).status_code == 403
    assert not [e for e in await store.read_stream(customer_stream(CAMILA)) if e.type == "ConversationTaken"]


async def test_a_console_action_without_its_csrf_token_is_refused(
    api: httpx.AsyncClient, store: PostgresEventStore
) -> None:
    await log_in(api, "ana")
    assert (await api.post(f"/console/conversations/{KEY}/take", data={})).status_code == 403
    assert (await api.post(f"/console/conversations/{KEY}/take", data={"csrf": "forged"})).status_code == 403
    assert not [e for e in await store.read_stream(customer_stream(CAMILA)) if e.type == "ConversationTaken"]


async def test_one_click_audits_the_conversation_with_the_audit_engine(api: httpx.AsyncClient, world: World) -> None:
    await log_in(api, "vera")  # reading is enough
    page = await api.get(f"/console/conversations/{KEY}")
    assert "Auditar esta conversación" in page.text
    audited = await api.get("/console/audit", params={"stream": customer_stream(CAMILA)})
    assert audited.status_code == 200 and 'id="audit-result"' in audited.text and "OK:" in audited.text
    assert (await api.get("/console/audit", params={"stream": "outbound-x"})).status_code == 404


async def test_the_audit_page_shows_the_diff_of_a_stream_that_no_longer_re_decides(
    api: httpx.AsyncClient, store: PostgresEventStore, world: World
) -> None:
    # A customer message recorded without its understanding cannot be re-decided: the audit says so.
    lone = MessageReceived(wamid="wamid.lone", role=SenderRole.CUSTOMER, phone="56900000000",
                           message_type="text", text="hola", received_at=world.now)  # fmt: skip
    await record(store, "customer-lonely", [lone], at=world.now, cause="wamid.lone")
    await log_in(api, "ana")
    audited = await api.get("/console/audit", params={"stream": "customer-lonely"})
    assert audited.status_code == 200 and "Diferencias" in audited.text and "wamid.lone" in audited.text
