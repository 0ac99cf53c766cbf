"""Parked messages in the console, against a real JetStream: listed with their reason, and handed back to
their consumer by an admin, which is recorded as an event that names the operator."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from contracts.operator_events import OperatorRole
from contracts.subjects import (
    DEADLETTER_INGRESS,
    DEADLETTER_ORCHESTRATOR,
    DEADLETTER_STREAM,
    INBOUND_STREAM,
    ORIGINAL_SUBJECT_HEADER,
    REASON_HEADER,
)
from eventstore import PostgresEventStore
from infra.jetstream import ensure_topology
from projections.operator_api.app import ApiConfig, create_app
from projections.operator_api.operator_account_store import OperatorAccountStore

TOKEN = "console-dead-letters-token-0123456789"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ORIGINAL = "conectapro.inbound.p1.redrive-me"
PAYLOAD = b'{"kind": "message", "wamid": "wamid.REDRIVE"}'


@pytest.fixture
async def js(nats_client: NATS) -> JetStreamContext:
    js = nats_client.jetstream()
    await ensure_topology(js)
    await js.publish(DEADLETTER_INGRESS, b"\xff not json", headers={REASON_HEADER: "invalid JSON: bad byte"})
    await js.publish(
        DEADLETTER_ORCHESTRATOR,
        PAYLOAD,
        headers={REASON_HEADER: "failed 6 times: boom", ORIGINAL_SUBJECT_HEADER: ORIGINAL},
    )
    return js


@pytest.fixture
async def console(
    migrated_database: str, js: JetStreamContext
) -> AsyncIterator[tuple[httpx.AsyncClient, PostgresEventStore]]:
    store = await PostgresEventStore.connect(migrated_database, max_size=2)
    accounts = OperatorAccountStore(store, clock=lambda: NOW)
    await accounts.add("ana", OperatorRole.ADMIN, "ana-password-123", by="cli")
    await accounts.add("vera", OperatorRole.VIEWER, "vera-password-123", by="cli")
    app = create_app(ApiConfig(token=TOKEN, clock=lambda: NOW, secure_cookies=False), store=store, jetstream=js)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://operator") as client:
            yield client, store
    finally:
        await store.close()


async def test_an_admin_sees_why_each_message_was_parked_and_hands_one_back(
    console: tuple[httpx.AsyncClient, PostgresEventStore], js: JetStreamContext
) -> None:
    client, store = console
    await client.post("/console/login", data={"name": "ana", "password": "ana-password-123"})
    page = await client.get("/console/deadletters")
    assert "invalid JSON: bad byte" in page.text and "failed 6 times: boom" in page.text
    forms = re.findall(r'action="/console/deadletters/(\d+)/redrive"', page.text)
    assert len(forms) == 1, "only the orchestrator's letter can be handed back"
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf

    response = await client.post(f"/console/deadletters/{forms[0]}/redrive", data={"csrf": csrf.group(1)})
    assert response.status_code == 303

    again = await js.get_last_msg(INBOUND_STREAM, ORIGINAL)
    assert again.data == PAYLOAD
    info = await js.stream_info(DEADLETTER_STREAM)
    assert info.state.messages == 1  # the ingress's letter stays
    [recorded] = await store.read_stream("dead-letters")
    assert recorded.data["by"] == "ana" and recorded.data["original_subject"] == ORIGINAL


async def test_a_viewer_sees_the_letters_but_cannot_hand_one_back(
    console: tuple[httpx.AsyncClient, PostgresEventStore],
) -> None:
    client, _ = console
    await client.post("/console/login", data={"name": "vera", "password": "vera-password-123"})
    page = await client.get("/console/deadletters")
    assert "failed 6 times: boom" in page.text and "/redrive" not in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    sequence = (await client.get("/v1/deadletters", headers={"Authorization": f"Bearer {TOKEN}"})).json()["items"][1]
    refused = await client.post(f"/console/deadletters/{sequence['sequence']}/redrive", data={"csrf": csrf.group(1)})
    assert refused.status_code == 403
