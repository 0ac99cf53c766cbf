"""Odd and hostile but authentic input through the signed webhook: every message answered or visibly parked.

Each case goes through the real ingress, NATS, orchestrator, PostgreSQL, sender and operator API. A text
the customer typed is answered, whatever it holds; a payload that is not a webhook is parked by the ingress
with its reason; a message no decision can be made on is parked by the orchestrator after its retries, its
customer is told (once an hour), operators see it, and another customer of its partition does not wait.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from audit.runner import audit_stream
from contracts.customer_text import MAX_TEXT_CHARS
from contracts.subjects import partition_of
from orchestrator import consumer
from tests.e2e.pipeline import PARTITIONS, SECRET, Pipeline, text_of
from tests.fixtures_paths import local_whatsapp_fixtures_dir, real_whatsapp_fixtures_dir
from tests.whatsapp_builders import signed, text_message

APOLOGY = "Tuvimos un problema con tu mensaje, ¿puedes escribirlo de nuevo?"

#: What customers may send, each from a customer of its own (phone, text).
ODD_TEXTS = {
    "56940000001": "hola\u0000 necesito gasfiter en ñuñoa",
    "56940000002": "se me rompió la cañería " + "a" * 70_000,
    "56940000003": "necesito electricista \u202eacul\u202c en macul",
    "56940000004": "🔧💧🚿" * 3000 + " gasfiter urgente",
    "56940000005": "'; DROP TABLE events; -- necesito cerrajero",
    "56940000006": "<script>alert(1)</script><b>gasfiter</b> en providencia",
    "56940000007": "\u0000\u0001\u0002\u007f\u0085",
    "56940000008": "uno\r\ndos\rtres \x1b[31m rojo",
    "56940000011": "hola \ud800 necesito gasfiter \udfff en ñuñoa",
}


async def _post_raw(pipeline: Pipeline, body: bytes) -> httpx.Response:
    signed_body, headers = signed(body, SECRET)
    return await pipeline.http.post("/webhook", content=signed_body, headers=headers)


async def _received(pipeline: Pipeline, phone: str) -> dict[str, Any]:
    events = await pipeline.store.read_stream(await pipeline.customer_stream(phone))
    [received] = [e for e in events if e.type == "MessageReceived"]
    return received.data


def _texts_cut() -> float:
    # The services run in this process: their metrics are in its default registry.
    return REGISTRY.get_sample_value("conectapro_texts_cut_total") or 0.0


async def test_odd_texts_customers_send_are_each_answered(pipeline: Pipeline) -> None:
    cuts_before = _texts_cut()
    for n, (phone, text) in enumerate(ODD_TEXTS.items()):
        # Lone surrogates can only travel as JSON escapes, as the standard library writes them.
        response = await _post_raw(pipeline, json.dumps(text_message(f"wamid.ODD{n}", phone, text)).encode())
        assert response.status_code == 200 and response.json()["published"] == 1, response.text

    for phone in ODD_TEXTS:
        [reply] = await pipeline.outbox(phone, 1, timeout=30)
        assert text_of(reply)

    assert (await _received(pipeline, "56940000001"))["text"] == "hola necesito gasfiter en ñuñoa"
    long_text = await _received(pipeline, "56940000002")
    assert len(long_text["text"]) == MAX_TEXT_CHARS and long_text["text_truncated_from"] == 70_024
    assert (await _received(pipeline, "56940000008"))["text"] == "uno\ndos\ntres [31m rojo"
    assert (await _received(pipeline, "56940000011"))["text"] == "hola \ufffd necesito gasfiter \ufffd en ñuñoa"
    assert _texts_cut() == cuts_before + 2  # the 70,000 characters and the 9,000 emoji


async def _dead_letters(pipeline: Pipeline, source: str, count: int) -> list[dict[str, Any]]:
    """The dead letters of ``source`` the operator API lists, once there are ``count`` of them."""
    for _ in range(600):
        response = await pipeline.operator_api.get("/v1/deadletters", params={"source": source})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        if len(items) >= count:
            return items
        await asyncio.sleep(0.05)
    raise AssertionError(f"{source} parked {len(items)} messages, not {count}")


async def _parked_gauge(pipeline: Pipeline, source: str) -> float:
    metrics = (await pipeline.operator_api.get("/metrics")).text
    match = re.search(rf'^dead_letters_parked\{{source="{source}"\}} (\S+)$', metrics, re.MULTILINE)
    assert match is not None, metrics
    return float(match.group(1))


async def test_payloads_that_are_not_webhooks_are_parked_with_their_reason_for_operators(pipeline: Pipeline) -> None:
    wrong_types = text_message("wamid.WRONG", "56940000009", "hola")
    # Not a list of entries: no part of it can be told apart (one unreadable message would be parked alone).
    wrong_types["entry"] = {"id": 12, "changes": wrong_types["entry"][0]["changes"]}
    bodies = {
        "nested": b"[" * 20_000 + b"]" * 20_000,
        "invalid utf-8": b'{"object": "whatsapp_business_account", "entry": "\xff\xfe"}',
        "empty": b"",
        "wrong types": signed(wrong_types, SECRET)[0],
        "lone surrogate, deep": b"[" * 2000 + b'"\\ud800"' + b"]" * 2000,
    }

    for body in bodies.values():
        response = await _post_raw(pipeline, body)
        assert response.status_code == 200, response.text
        assert response.json()["dead_letter"] is True

    parked = await _dead_letters(pipeline, "ingress", len(bodies))
    assert all(letter["reason"] for letter in parked)
    assert sum("invalid JSON" in letter["reason"] for letter in parked) == 4
    assert any("not a WhatsApp webhook" in letter["reason"] for letter in parked)
    first = (await pipeline.operator_api.get(f"/v1/deadletters/{parked[0]['sequence']}")).json()
    assert first["payload_base64"] and first["bytes"] == 40_000
    assert await _parked_gauge(pipeline, "ingress") == len(bodies)


def _same_partition_as(phone: str) -> str:
    target = partition_of(phone, PARTITIONS)
    return next(p for n in range(100) if partition_of(p := f"5695{n:07d}", PARTITIONS) == target and p != phone)


def _unstorable(wamid: str, phone: str) -> dict[str, Any]:
    """A message no decision can be stored for: its type carries a NUL, which PostgreSQL's jsonb refuses
    (types are ours to read, not customer text, so they are not normalised)."""
    payload = text_message(wamid, phone, "hola")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["type"] = "te\u0000xt"
    return payload


async def _apologies(pipeline: Pipeline, phone: str) -> list[str]:
    events = await pipeline.store.read_stream(await pipeline.customer_stream(phone))
    return [e.type for e in events if e.type == "MessageHandlingFailed" or e.data.get("purpose") == "message_failed"]


async def test_a_message_that_cannot_be_handled_is_parked_and_its_customer_told_once_an_hour(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Retries take ~5 s: long enough that a customer queued behind them in the partition would show.
    monkeypatch.setattr(consumer, "BACKOFF_SECONDS", (1.0,) * 5)
    unlucky, neighbour = "56940000010", _same_partition_as("56940000010")

    await pipeline.post(_unstorable("wamid.BAD1", unlucky))
    await pipeline.says(neighbour, "hola, necesito un cerrajero en providencia")

    await pipeline.outbox(neighbour, 1)
    assert pipeline.sandbox.messages(to=unlucky) == []  # still being retried: the neighbour did not wait
    [apology] = await pipeline.outbox(unlucky, 1, timeout=60)
    assert text_of(apology) == APOLOGY
    [letter] = await _dead_letters(pipeline, "orchestrator", 1)
    assert f"failed {consumer.MAX_DELIVERIES} times" in letter["reason"]

    # Again within the hour: parked and recorded, but no second apology. The message after it is handled
    # only once the failure was settled (same customer, same lane), so its reply is the sentinel.
    monkeypatch.setattr(consumer, "BACKOFF_SECONDS", (0.05,) * 5)
    await pipeline.post(_unstorable("wamid.BAD2", unlucky))
    await pipeline.says(unlucky, "hola, necesito un gasfiter en ñuñoa")
    replies = await pipeline.outbox(unlucky, 2, timeout=60)

    assert APOLOGY not in text_of(replies[1])
    assert await _apologies(pipeline, unlucky) == ["MessageHandlingFailed", "ReplyQueued", "MessageHandlingFailed"]
    assert len(await _dead_letters(pipeline, "orchestrator", 2)) == 2
    assert await _parked_gauge(pipeline, "orchestrator") == 2
    # The apology's command is in its decision's metadata, without the phone it was addressed with (the
    # reply's recipient is sealed in the event); the audit still re-decides it.
    stream_id = await pipeline.customer_stream(unlucky)
    recorded = await pipeline.store.pool.fetch("SELECT metadata::text FROM events WHERE stream_id = $1", stream_id)
    assert '"ApologiseForFailedMessage"' in str(recorded) and unlucky not in str(recorded)
    report = await audit_stream(pipeline.store, stream_id)
    assert report.clean, report.render()


def _fixture(directory: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / name).read_text(encoding="utf-8"))
    return data


async def test_control_characters_in_a_status_error_or_an_account_error_are_removed_and_recorded(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Were they refused, the updates would be parked after these (short) retries: the wait below sees it.
    monkeypatch.setattr(consumer, "BACKOFF_SECONDS", (0.05,) * 5)
    failed = _fixture(real_whatsapp_fixtures_dir(), "meta_status_failed_131049.json")
    [error] = failed["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"]
    error["title"] = "This message was\u0000 not delivered\u0007 to maintain healthy ecosystem engagement."
    account = _fixture(local_whatsapp_fixtures_dir(), "value_errors_only.json")
    [problem] = account["entry"][0]["changes"][0]["value"]["errors"]
    problem.update(title="Something\u0000 went wrong", message="Something went\u001b wrong")
    problem["error_data"]["details"] = "No se pudo\u0000 procesar el webhook\u0085 para este número."

    for payload in (failed, account):
        assert (await pipeline.post(payload)).json()["published"] == 1

    recorded: dict[str, Any] = {}
    for _ in range(600):
        rows = await pipeline.store.pool.fetch(
            "SELECT type, data FROM events WHERE type IN ('ReplyDeliveryUpdated', 'WhatsAppErrorReported')"
        )
        recorded = {row["type"]: row["data"] for row in rows}
        parked = (await pipeline.operator_api.get("/v1/deadletters", params={"source": "orchestrator"})).json()
        assert parked["items"] == [], [item["reason"] for item in parked["items"]]
        if len(recorded) == 2:
            break
        await asyncio.sleep(0.05)
    assert recorded["ReplyDeliveryUpdated"]["error_title"] == (
        "This message was not delivered to maintain healthy ecosystem engagement."
    )
    reported = recorded["WhatsAppErrorReported"]
    assert (reported["title"], reported["message"]) == ("Something went wrong", "Something went wrong")
    assert reported["details"] == "No se pudo procesar el webhook para este número."
