"""The WhatsApp client against the sandbox served by a real uvicorn on a free port.

The sandbox speaks the Graph API send protocol, so these tests exercise real HTTP, real JSON and the real
retry loop. Backoff waits are shrunk through the retry policy: nothing here sleeps for long or asserts on
elapsed time.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from contracts.outbound import ButtonsMessage, ListMessage, ListRow, ListSection, ReplyButton, TextMessage
from devtools.graph_sandbox import Sandbox, SandboxServer, ScriptedFailure, create_sandbox_app
from devtools.graph_sandbox_checks import validate_send_payload
from infra.embedded import free_port
from outbound.throughput import ThroughputLimiter, ThroughputLimits
from outbound.whatsapp_client import (
    PermanentSendError,
    RetryPolicy,
    TransientSendError,
    WhatsAppClient,
)

TOKEN = "EAAG-sandbox-test-token-0123456789abcdef"
PHONE_NUMBER_ID = "106540352242922"
CUSTOMER = "56912345678"
MASKED_CUSTOMER = "569*****678"
OTHER = "56987654321"
FAST = RetryPolicy(
    max_attempts=4,
    max_total_seconds=30,
    initial_backoff=0.001,
    max_backoff=0.01,
    jitter=0.0,
    min_backoff_scale=0.001,
)


@pytest.fixture(scope="module")
async def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SandboxServer]:
    outbox = tmp_path_factory.mktemp("sandbox") / "outbox.jsonl"
    async with SandboxServer(Sandbox(access_token=TOKEN, outbox_path=outbox)) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Sandbox:
    sandbox_server.sandbox.reset()
    return sandbox_server.sandbox


@pytest.fixture
async def client(sandbox_server: SandboxServer, sandbox: Sandbox) -> AsyncIterator[WhatsAppClient]:
    async with WhatsAppClient(sandbox_server.api_base_url, TOKEN, PHONE_NUMBER_ID, retry=FAST) as client:
        yield client


def text(to: str = CUSTOMER, body: str = "¡Hola! ¿Qué tan urgente es?") -> dict[str, Any]:
    return TextMessage(body=body).to_graph_api_payload(to)


def buttons() -> dict[str, Any]:
    message = ButtonsMessage(
        body="¿Qué tan urgente es?",
        buttons=(
            ReplyButton(id="urgency:hoy", title="Hoy"),
            ReplyButton(id="urgency:1_2_dias", title="1-2 días"),
            ReplyButton(id="urgency:semana", title="Esta semana"),
        ),
    )
    return message.to_graph_api_payload(CUSTOMER)


def service_list() -> dict[str, Any]:
    message = ListMessage(
        body="¿Qué servicio necesitas?",
        button="Ver servicios",
        sections=(
            ListSection(
                title="Servicios",
                rows=(
                    ListRow(id="service:Electricidad", title="Electricidad", description="Enchufes, tableros"),
                    ListRow(id="service:Gasfiteria", title="Gasfitería", description="Cañerías, calefont"),
                    ListRow(id="service:Cerrajeria", title="Cerrajería"),
                ),
            ),
        ),
    )
    return message.to_graph_api_payload(CUSTOMER)


def log_lines(err: str) -> list[dict[str, Any]]:
    lines = []
    for line in err.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


# ------------------------------------------------------------------------------------------- sending


async def test_text_buttons_and_list_are_sent_recorded_and_get_a_wamid(
    client: WhatsAppClient, sandbox: Sandbox
) -> None:
    sent = [await client.send(payload) for payload in (text(), buttons(), service_list())]

    assert all(s.wamid.startswith("wamid.") for s in sent)
    assert len({s.wamid for s in sent}) == 3
    assert all(s.attempts == 1 and s.wa_id == CUSTOMER for s in sent)
    recorded = sandbox.messages(CUSTOMER)
    assert [m["wamid"] for m in recorded] == [s.wamid for s in sent]
    assert [m["payload"] for m in recorded] == [text(), buttons(), service_list()]
    assert [m["type"] for m in recorded] == ["text", "interactive", "interactive"]
    assert all(m["phone_number_id"] == PHONE_NUMBER_ID for m in recorded)


async def test_the_outbox_is_readable_over_http_filtered_by_recipient_and_kept_in_a_file(
    client: WhatsAppClient, sandbox: Sandbox, sandbox_server: SandboxServer
) -> None:
    first = await client.send(text(CUSTOMER))
    await client.send(text(OTHER))

    async with httpx.AsyncClient(base_url=sandbox_server.url) as http:
        everything = (await http.get("/sandbox/messages")).json()["messages"]
        mine = (await http.get("/sandbox/messages", params={"to": "+" + CUSTOMER})).json()["messages"]
        assert len(everything) == 2
        assert [m["wamid"] for m in mine] == [first.wamid]

        assert sandbox.outbox_path is not None
        lines = sandbox.outbox_path.read_text().splitlines()
        assert [json.loads(line)["wamid"] for line in lines] == [m["wamid"] for m in everything]
        assert Sandbox(outbox_path=sandbox.outbox_path).messages() == everything  # a restart reads it back

        assert (await http.delete("/sandbox/messages")).status_code == 200
        assert (await http.get("/sandbox/messages")).json()["messages"] == []
        assert sandbox.outbox_path.read_text() == ""


async def test_the_path_without_a_version_segment_works_too(sandbox_server: SandboxServer, sandbox: Sandbox) -> None:
    async with WhatsAppClient(sandbox_server.url, TOKEN, PHONE_NUMBER_ID, retry=FAST) as client:
        sent = await client.send(text())
    assert sandbox.messages()[0]["wamid"] == sent.wamid


async def test_the_success_body_has_metas_shape(sandbox_server: SandboxServer, sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox_server.api_base_url) as http:
        response = await http.post(
            f"/{PHONE_NUMBER_ID}/messages", json=text("+56 9 1234 5678"), headers={"Authorization": f"Bearer {TOKEN}"}
        )
    body = response.json()
    assert response.status_code == 200
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "+56 9 1234 5678", "wa_id": CUSTOMER}]
    assert body["messages"][0]["id"].startswith("wamid.")


# -------------------------------------------------------------------------------------- validation


def _with(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``payload`` with the dotted ``path`` set to ``value`` (list indexes as numbers)."""
    copy: dict[str, Any] = json.loads(json.dumps(payload))
    target: Any = copy
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return copy


def _rows(count: int) -> list[dict[str, str]]:
    return [{"id": f"r{i}", "title": f"Row {i}"} for i in range(count)]


BUTTONS = "interactive.action.buttons"
ROWS = "interactive.action.sections.0.rows"
INVALID_PAYLOADS = {
    "messaging_product missing": (_with(text(), "messaging_product", None), 100),
    "messaging_product not whatsapp": (_with(text(), "messaging_product", "sms"), 100),
    "to missing": (_with(text(), "to", ""), 100),
    "text body over 4096": (_with(text(), "text.body", "a" * 4097), 100),
    "text body empty": (_with(text(), "text.body", ""), 100),
    "unknown type": (_with(text(), "type", "hologram"), 100),
    "four buttons": (
        _with(buttons(), BUTTONS, [{"type": "reply", "reply": {"id": f"b{i}", "title": f"B{i}"}} for i in range(4)]),
        131009,
    ),
    "no buttons": (_with(buttons(), BUTTONS, []), 131009),
    "button title over 20": (_with(buttons(), f"{BUTTONS}.0.reply.title", "x" * 21), 131009),
    "button id over 256": (_with(buttons(), f"{BUTTONS}.0.reply.id", "x" * 257), 131009),
    "duplicate button ids": (_with(buttons(), f"{BUTTONS}.1.reply.id", "urgency:hoy"), 131009),
    "eleven list rows": (_with(service_list(), ROWS, _rows(11)), 131009),
    "list row title over 24": (_with(service_list(), f"{ROWS}.0.title", "x" * 25), 131009),
    "list row description over 72": (_with(service_list(), f"{ROWS}.0.description", "x" * 73), 131009),
    "list button over 20": (_with(service_list(), "interactive.action.button", "x" * 21), 131009),
    "section title over 24": (_with(service_list(), "interactive.action.sections.0.title", "x" * 25), 131009),
    "duplicate row ids": (_with(service_list(), f"{ROWS}.1.id", "service:Electricidad"), 131009),
    "interactive body missing": (_with(buttons(), "interactive.body", None), 131008),
}


@pytest.mark.parametrize(("payload", "code"), INVALID_PAYLOADS.values(), ids=INVALID_PAYLOADS.keys())
async def test_an_invalid_payload_is_refused_400_and_raised_as_permanent_without_retry(
    client: WhatsAppClient, sandbox: Sandbox, payload: dict[str, Any], code: int
) -> None:
    with pytest.raises(PermanentSendError) as raised:
        await client.send(payload)

    assert raised.value.code == code
    assert raised.value.http_status == 400
    assert raised.value.attempts == 1
    assert raised.value.details
    assert len(sandbox.requests()) == 1
    assert sandbox.messages() == []


def test_the_sandbox_accepts_exactly_what_the_outbound_contracts_build() -> None:
    for payload in (text(), buttons(), service_list(), text(body="a" * 4096)):
        assert validate_send_payload(payload) is None


async def test_a_refusal_has_metas_error_shape(sandbox_server: SandboxServer, sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox_server.api_base_url) as http:
        response = await http.post(
            f"/{PHONE_NUMBER_ID}/messages",
            json=_with(buttons(), f"{BUTTONS}.0.reply.title", "x" * 21),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    error = response.json()["error"]
    assert response.status_code == 400
    assert error["code"] == 131009
    assert error["type"] == "OAuthException"
    assert error["message"].startswith("(#131009)")
    assert error["error_data"] == {"messaging_product": "whatsapp", "details": error["error_data"]["details"]}
    assert "20" in error["error_data"]["details"]
    assert error["fbtrace_id"]


async def test_a_wrong_token_is_refused_401_with_code_190(sandbox_server: SandboxServer, sandbox: Sandbox) -> None:
    async with WhatsAppClient(sandbox_server.api_base_url, "not-the-token", PHONE_NUMBER_ID, retry=FAST) as client:
        with pytest.raises(PermanentSendError) as raised:
            await client.send(text())
    assert (raised.value.code, raised.value.http_status, raised.value.attempts) == (190, 401, 1)
    assert sandbox.messages() == []


# ---------------------------------------------------------------------------------------- retrying


async def test_a_throughput_limit_then_success_is_retried_and_sent_once(
    client: WhatsAppClient, sandbox: Sandbox
) -> None:
    sandbox.script([ScriptedFailure(status=429, code=130429), ScriptedFailure(status=400, code=130429)])

    sent = await client.send(text())

    assert sent.attempts == 3
    assert [r["code"] for r in sandbox.requests()] == [130429, 130429, None]
    assert [m["wamid"] for m in sandbox.messages()] == [sent.wamid]


async def test_scripted_failures_are_queued_over_http_and_consumed_in_order(
    client: WhatsAppClient, sandbox: Sandbox, sandbox_server: SandboxServer
) -> None:
    async with httpx.AsyncClient(base_url=sandbox_server.url) as http:
        response = await http.post("/sandbox/failures", json=[{"status": 503, "code": 131000}, {"status": 502}])
        assert response.json() == {"queued": 2, "pending": 2}

        sent = await client.send(text())

        assert (await http.get("/sandbox/failures")).json() == {"failures": []}
        requests = (await http.get("/sandbox/requests")).json()["requests"]
    assert [(r["status"], r["code"]) for r in requests] == [(503, 131000), (502, None), (200, None)]
    assert sent.attempts == 3


async def test_a_recipient_specific_failure_spares_other_recipients(client: WhatsAppClient, sandbox: Sandbox) -> None:
    sandbox.script([ScriptedFailure(status=400, code=131026, to=CUSTOMER)])

    await client.send(text(OTHER))
    with pytest.raises(PermanentSendError) as raised:
        await client.send(text(CUSTOMER))

    assert raised.value.code == 131026
    assert [m["to"] for m in sandbox.messages()] == [OTHER]


async def test_outside_the_24_hour_window_fails_permanently_after_exactly_one_request(
    client: WhatsAppClient, sandbox: Sandbox
) -> None:
    sandbox.script([ScriptedFailure(status=400, code=131047), ScriptedFailure(status=400, code=131047)])

    with pytest.raises(PermanentSendError) as raised:
        await client.send(text())

    assert raised.value.code == 131047
    assert raised.value.http_status == 400
    assert raised.value.attempts == 1
    assert "131047" in raised.value.reason
    assert len(sandbox.requests()) == 1
    assert sandbox.messages() == []
    assert len(sandbox.pending_failures()) == 1  # the second scripted refusal was never asked for


async def test_retries_exhausted_raise_transient_with_the_last_failure(
    sandbox_server: SandboxServer, sandbox: Sandbox
) -> None:
    sandbox.script([ScriptedFailure(status=400, code=131056)] * 3)
    policy = RetryPolicy(max_attempts=3, initial_backoff=0.001, max_backoff=0.01, jitter=0, min_backoff_scale=0.001)
    async with WhatsAppClient(sandbox_server.api_base_url, TOKEN, PHONE_NUMBER_ID, retry=policy) as client:
        with pytest.raises(TransientSendError) as raised:
            await client.send(text())

    assert raised.value.code == 131056
    assert raised.value.attempts == 3
    assert len(sandbox.requests()) == 3
    assert sandbox.messages() == []


async def test_a_network_failure_is_retried_then_reported_as_transient() -> None:
    nobody_listens = f"http://127.0.0.1:{free_port()}/v21.0"
    async with WhatsAppClient(nobody_listens, TOKEN, PHONE_NUMBER_ID, retry=FAST) as client:
        with pytest.raises(TransientSendError) as raised:
            await client.send(text())
    assert raised.value.code is None
    assert raised.value.http_status is None
    assert raised.value.attempts == FAST.max_attempts


async def test_the_pair_rate_limit_waits_longer_than_the_throughput_limit(
    client: WhatsAppClient, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.script([ScriptedFailure(status=400, code=130429), ScriptedFailure(status=400, code=131056)])
    capsys.readouterr()

    await client.send(text())

    waits = [line["wait_seconds"] for line in log_lines(capsys.readouterr().err)
             if line["event"] == "whatsapp_send_retry_scheduled"]  # fmt: skip
    # Scaled by min_backoff_scale=0.001: 130429 waits ≥ 1 s → 0.001, 131056 waits ≥ 6 s → 0.006.
    assert waits == [pytest.approx(0.001), pytest.approx(0.006)]


async def test_retry_after_is_honoured_as_a_minimum_wait(
    client: WhatsAppClient, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.script([ScriptedFailure(status=429, retry_after=9)])
    capsys.readouterr()

    await client.send(text())

    waits = [line["wait_seconds"] for line in log_lines(capsys.readouterr().err)
             if line["event"] == "whatsapp_send_retry_scheduled"]  # fmt: skip
    assert waits == [pytest.approx(0.009)]


async def test_the_retry_budget_stops_before_a_wait_that_would_overrun_it(
    sandbox_server: SandboxServer, sandbox: Sandbox
) -> None:
    sandbox.script([ScriptedFailure(status=400, code=131056)])
    policy = RetryPolicy(max_attempts=5, max_total_seconds=1.0, initial_backoff=0.001, jitter=0)
    async with WhatsAppClient(sandbox_server.api_base_url, TOKEN, PHONE_NUMBER_ID, retry=policy) as client:
        with pytest.raises(TransientSendError) as raised:
            await client.send(text())  # 131056 asks for ≥ 6 s: more than the whole budget
    assert raised.value.attempts == 1
    assert raised.value.code == 131056


async def test_every_attempt_passes_through_the_throughput_limiter(
    sandbox_server: SandboxServer, sandbox: Sandbox
) -> None:
    seen: list[str] = []

    class RecordingLimiter(ThroughputLimiter):
        async def acquire(self, recipient: str) -> float:
            seen.append(recipient)
            return await super().acquire(recipient)

    sandbox.script([ScriptedFailure(status=503, code=2)])
    limiter = RecordingLimiter(ThroughputLimits())
    async with WhatsAppClient(
        sandbox_server.api_base_url, TOKEN, PHONE_NUMBER_ID, retry=FAST, limiter=limiter
    ) as client:
        await client.send(text())
    assert seen == [CUSTOMER, CUSTOMER]


# -------------------------------------------------------------------------------------------- logs


async def test_logs_never_show_the_token_nor_the_whole_number(
    client: WhatsAppClient, sandbox: Sandbox, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.script([ScriptedFailure(status=429, code=130429), ScriptedFailure(status=400, code=131047)])
    capsys.readouterr()

    with pytest.raises(PermanentSendError):
        await client.send(text())
    await client.send(buttons())

    err = capsys.readouterr().err
    logged = err + caplog.text
    assert TOKEN not in logged
    assert CUSTOMER not in logged
    assert TOKEN not in repr(client)
    attempts = [line for line in log_lines(err) if line["event"] == "whatsapp_send_attempt"]
    assert [(a["attempt"], a["outcome"]) for a in attempts] == [(1, "transient"), (2, "permanent"), (1, "sent")]
    assert all(a["to"] == MASKED_CUSTOMER for a in attempts)
    assert attempts[1]["error_code"] == 131047
    assert attempts[2]["wamid"].startswith("wamid.")


def test_an_unknown_version_segment_is_not_the_send_endpoint() -> None:
    with TestClient(create_sandbox_app(Sandbox())) as http:
        response = http.post(f"/latest/{PHONE_NUMBER_ID}/messages", json=text())
        assert response.status_code == 400
        assert http.post(f"/v19.0/{PHONE_NUMBER_ID}/messages", json=text()).status_code == 200
