"""The webhook against a real NATS JetStream: what is acknowledged is stored, once, in order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from contracts.inbound import InboundMessage, normalize, parse_envelope
from contracts.subjects import DEADLETTER_STREAM, INBOUND_STREAM, REASON_HEADER, inbound_subject
from contracts.whatsapp import WebhookPayload
from infra.embedded import EmbeddedNats
from infra.jetstream import connect, ensure_topology
from ingress.app import IngressConfig, WebhookDelivery, create_app
from ingress.publisher import InboundPublisher
from privacy.person_tokens import PersonTokens
from tests.fixtures_paths import json_files, real_whatsapp_fixtures_dir
from tests.whatsapp_builders import batch, signed, text_message

SECRET = "test-app-secret-0123456789"
VERIFY = "verify-token-abcdef"
PARTITIONS = 4
TOKENS = PersonTokens(b"ingress-tests-subject-key-0123456")


@dataclass
class Ingress:
    http: httpx.AsyncClient
    js: JetStreamContext
    publisher: InboundPublisher
    app: WebhookDelivery

    async def post(self, payload: dict[str, object] | bytes) -> httpx.Response:
        body, headers = signed(payload, SECRET)
        return await self.http.post("/webhook", content=body, headers=headers)

    async def stored(self, stream: str = INBOUND_STREAM) -> list[tuple[str, bytes, dict[str, str]]]:
        """Every message in the stream: (subject, data, headers), in stream order."""
        info = await self.js.stream_info(stream)
        messages = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1) if info.state.messages else []:
            raw = await self.js.get_msg(stream, seq)
            messages.append((raw.subject or "", raw.data or b"", dict(raw.headers or {})))
        return messages


async def _ingress(nc: NATS, ack_timeout: float = 10.0) -> AsyncIterator[Ingress]:
    # Generous by default: a 1,000-update POST under a loaded CI machine must not time out into a 503.
    js = nc.jetstream()
    await ensure_topology(js)
    publisher = InboundPublisher(nc, js, partitions=PARTITIONS, person_token=TOKENS, ack_timeout=ack_timeout)
    app = create_app(IngressConfig(app_secret=SECRET, verify_token=VERIFY), publisher)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingress") as http:
        yield Ingress(http, js, publisher, app)


@pytest.fixture
async def ingress(nats_client: NATS) -> AsyncIterator[Ingress]:
    async for ingress in _ingress(nats_client):
        yield ingress


def _all_fixture_files() -> list[Path]:
    return json_files(real_whatsapp_fixtures_dir()) + json_files(
        Path(__file__).resolve().parents[1] / "fixtures" / "whatsapp"
    )


@pytest.mark.parametrize("fixture", _all_fixture_files(), ids=lambda p: p.name)
async def test_every_fixture_goes_through_the_webhook_into_the_stream(ingress: Ingress, fixture: Path) -> None:
    payload = json.loads(fixture.read_text())
    expected_keys = list(dict.fromkeys(e.dedupe_key for e in normalize(WebhookPayload.model_validate(payload))))

    response = await ingress.post(payload)

    assert response.status_code == 200, response.text
    stored = await ingress.stored()
    assert [headers["Nats-Msg-Id"] for _, _, headers in stored] == expected_keys
    for _, data, _ in stored:
        parse_envelope(data)  # what is stored is a valid contract


async def test_the_same_payload_ten_times_at_once_and_again_later_is_stored_once_per_wamid(ingress: Ingress) -> None:
    payload = batch([("wamid.A1", "56911111111", "hola"), ("wamid.A2", "56922222222", "se cortó la luz")])

    responses = await asyncio.gather(*(ingress.post(payload) for _ in range(10)))
    later = await ingress.post(payload)

    assert {r.status_code for r in [*responses, later]} == {200}
    assert sum(r.json()["published"] for r in responses) == 2
    assert later.json() == {"published": 0, "duplicates": 2}
    assert [h["Nats-Msg-Id"] for _, _, h in await ingress.stored()] == ["wamid.A1", "wamid.A2"]


async def test_a_wamid_stored_days_ago_is_not_published_again_after_the_duplicate_window(ingress: Ingress) -> None:
    # The JetStream window is minutes long; the stream itself is what remembers a retry days later. Stored
    # here without a Nats-Msg-Id, so the duplicate window does not know it: only the lookup can catch it.
    payload = text_message("wamid.OLD", "56933333333", "hola de nuevo")  # Meta's timestamp: long ago
    [envelope] = normalize(WebhookPayload.model_validate(payload))
    sender = envelope.sender_key
    await ingress.js.publish(inbound_subject(sender, envelope.dedupe_key, PARTITIONS, TOKENS(sender)), b"{}")

    response = await ingress.post(payload)

    assert response.json() == {"published": 0, "duplicates": 1}
    assert len(await ingress.stored()) == 1


async def test_each_update_is_stored_on_a_subject_of_its_own_which_is_the_durable_record(ingress: Ingress) -> None:
    payload = batch([("wamid.REC1", "56933333333", "hola"), ("wamid.REC2", "56933333333", "sigo aquí")])
    await ingress.post(payload)

    for envelope in normalize(WebhookPayload.model_validate(payload)):
        subject = inbound_subject(envelope.sender_key, envelope.dedupe_key, PARTITIONS, TOKENS(envelope.sender_key))
        stored = await ingress.js.get_last_msg(INBOUND_STREAM, subject)
        assert parse_envelope(stored.data or b"").dedupe_key == envelope.dedupe_key
    config = (await ingress.js.stream_info(INBOUND_STREAM)).config
    assert (config.max_age or 0) >= 8 * 24 * 3600  # outlives Meta's 7 days of retries


async def test_a_batch_of_fifty_messages_from_several_senders_keeps_each_senders_order(ingress: Ingress) -> None:
    senders = [f"5699000000{i}" for i in range(5)]
    messages = [(f"wamid.B{n:03d}", senders[n % 5], f"mensaje {n}") for n in range(50)]

    response = await ingress.post(batch(messages))

    assert response.json() == {"published": 50, "duplicates": 0}
    stored = [parse_envelope(data) for _, data, _ in await ingress.stored()]
    for sender in senders:
        received = [e.wamid for e in stored if isinstance(e, InboundMessage) and e.sender_id == sender]
        assert received == [wamid for wamid, s, _ in messages if s == sender]
    partitions_by_sender: dict[str, set[str]] = {}
    for subject, data, _ in await ingress.stored():
        # conectapro.inbound.p<N>.<token>: one sender, one partition (and so one consumer, in order).
        partitions_by_sender.setdefault(parse_envelope(data).sender_key, set()).add(subject.split(".")[2])
    assert all(len(partitions) == 1 for partitions in partitions_by_sender.values())


async def test_a_missing_signature_is_refused_with_401_and_nothing_is_published(ingress: Ingress) -> None:
    body = orjson.dumps(text_message("wamid.NOSIG", "56944444444", "hola"))

    response = await ingress.http.post("/webhook", content=body)

    assert response.status_code == 401
    assert await ingress.stored() == []


@pytest.mark.parametrize("header", ["sha256=" + "0" * 64, "sha1=abc", "garbage"])
async def test_a_wrong_signature_is_refused_with_403_and_nothing_is_published(ingress: Ingress, header: str) -> None:
    body = orjson.dumps(text_message("wamid.BADSIG", "56944444444", "hola"))

    response = await ingress.http.post("/webhook", content=body, headers={"X-Hub-Signature-256": header})

    assert response.status_code == 403
    assert await ingress.stored() == []


async def test_a_body_signed_with_another_secret_is_refused(ingress: Ingress) -> None:
    body, headers = signed(text_message("wamid.OTHER", "56944444444", "hola"), "another-secret")

    response = await ingress.http.post("/webhook", content=body, headers=headers)

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"{not json", "invalid JSON"), (b'{"hello": "world"}', "not a WhatsApp webhook"), (b"[1, 2]", "not a WhatsApp")],
)
async def test_a_malformed_authentic_payload_is_dead_lettered_and_answered_200(
    ingress: Ingress, body: bytes, reason: str
) -> None:
    response = await ingress.post(body)

    assert response.status_code == 200
    assert response.json()["dead_letter"] is True
    [(subject, data, headers)] = await ingress.stored(DEADLETTER_STREAM)
    assert subject == "conectapro.deadletter.ingress"
    assert data == body
    assert reason in headers[REASON_HEADER]
    assert await ingress.stored() == []


def _thousand_with_one_without_its_id() -> dict[str, object]:
    """Meta's largest batch: 1,000 messages of 40 senders, the 500th without its id."""
    senders = [f"569770000{n:02d}" for n in range(40)]
    payload = batch([(f"wamid.K{n:04d}", senders[n % 40], f"mensaje {n}") for n in range(1000)])
    del payload["entry"][0]["changes"][0]["value"]["messages"][500]["id"]
    return payload


async def test_one_update_without_its_id_is_parked_alone_and_the_other_999_are_published(ingress: Ingress) -> None:
    payload = _thousand_with_one_without_its_id()
    sender = "56977000020"  # the 500th's

    response = await ingress.post(payload)

    assert response.status_code == 200
    assert response.json() == {"published": 999, "duplicates": 0, "parked": 1}
    stored = [h["Nats-Msg-Id"] for _, _, h in await ingress.stored()]
    assert stored == [f"wamid.K{n:04d}" for n in range(1000) if n != 500]
    [(subject, data, headers)] = await ingress.stored(DEADLETTER_STREAM)
    assert subject.startswith(f"conectapro.deadletter.ingress.{TOKENS(sender)}.")  # erasure finds it by token
    assert "messages.500.id: missing" in headers[REASON_HEADER]
    letter = orjson.loads(data)
    assert letter["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] == "mensaje 500"
    assert b"56977000021" not in data  # nobody else's data goes with it
    metrics = (await ingress.http.get("/metrics")).text
    assert 'ingress_requests_total{outcome="parts_parked"} 1.0' in metrics
    assert "ingress_dead_letters_total 1.0" in metrics


async def test_a_retry_of_a_post_with_an_unreadable_update_publishes_and_parks_nothing_again(ingress: Ingress) -> None:
    payload = _thousand_with_one_without_its_id()
    await ingress.post(payload)
    # Days later the duplicate windows have forgotten it (a stream made anew remembers no id): the letter's
    # subject is what remembers.
    [(subject, data, _)] = await ingress.stored(DEADLETTER_STREAM)
    await ingress.js.delete_stream(DEADLETTER_STREAM)
    await ensure_topology(ingress.js)
    await ingress.js.publish(subject, data)

    again = await ingress.post(payload)

    assert again.json() == {"published": 0, "duplicates": 999, "parked": 1}
    assert len(await ingress.stored()) == 999
    assert [s for s, _, _ in await ingress.stored(DEADLETTER_STREAM)] == [subject]


async def test_a_post_with_an_unreadable_update_and_a_wrong_signature_is_refused(ingress: Ingress) -> None:
    body, headers = signed(_thousand_with_one_without_its_id(), "another-secret")

    response = await ingress.http.post("/webhook", content=body, headers=headers)

    assert response.status_code == 403
    assert await ingress.stored() == []


async def test_a_body_over_the_limit_is_refused_with_413(ingress: Ingress) -> None:
    response = await ingress.post(b"x" * (4 * 1024 * 1024 + 1))

    assert response.status_code == 413


async def test_verification_echoes_the_challenge_only_for_the_right_token(ingress: Ingress) -> None:
    good = await ingress.http.get(
        "/webhook", params={"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
    )
    wrong = await ingress.http.get(
        "/webhook", params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}
    )
    missing = await ingress.http.get("/webhook")

    assert (good.status_code, good.text) == (200, "1158201444")
    assert wrong.status_code == 403
    assert missing.status_code == 403


async def test_health_readiness_and_metrics_report_what_happened(ingress: Ingress) -> None:
    await ingress.post(text_message("wamid.M1", "56955555555", "hola"))
    await ingress.post(text_message("wamid.M1", "56955555555", "hola"))

    assert (await ingress.http.get("/healthz")).status_code == 200
    assert (await ingress.http.get("/readyz")).status_code == 200
    metrics = (await ingress.http.get("/metrics")).text
    assert 'ingress_requests_total{outcome="accepted"} 2.0' in metrics
    assert "ingress_duplicates_total 1.0" in metrics
    assert 'ingress_updates_total{kind="message"} 2.0' in metrics


async def test_logs_never_show_full_phone_numbers_or_secrets(
    ingress: Ingress, capsys: pytest.CaptureFixture[str]
) -> None:
    await ingress.post(text_message("wamid.LOG", "56912345678", "mi número es +56 9 8765 4321"))

    output = capsys.readouterr().err
    assert "webhook_request" in output
    assert "56912345678" not in output
    assert SECRET not in output


async def test_nats_down_answers_503_and_the_retried_payload_is_stored_once_when_it_returns(
    tmp_path: Path,
) -> None:
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    nc = await connect(server.url, "test-outage")
    try:
        async for ingress in _ingress(nc, ack_timeout=1.5):  # the outage's 503 comes after this long
            payload = text_message("wamid.OUTAGE", "56966666666", "hola")
            server.stop()
            await asyncio.sleep(0.2)

            during = await ingress.post(payload)

            server.start()  # same port and store
            for _ in range(100):
                if nc.is_connected:
                    break
                await asyncio.sleep(0.1)
            after = await ingress.post(payload)
            retried_again = await ingress.post(payload)

            assert during.status_code == 503
            assert after.status_code == 200
            assert retried_again.json() == {"published": 0, "duplicates": 1}
            assert [h["Nats-Msg-Id"] for _, _, h in await ingress.stored()] == ["wamid.OUTAGE"]
    finally:
        await nc.close()
        server.stop()


async def test_a_fresh_message_sent_again_is_caught_by_the_jetstream_window_without_a_lookup(ingress: Ingress) -> None:
    import time

    payload = text_message("wamid.FRESH", "56977777777", "hola", timestamp=int(time.time()))
    lookups: list[str] = []
    original = ingress.publisher._seen.seen_many

    async def counting(keys):  # type: ignore[no-untyped-def]
        keys = list(keys)
        lookups.extend(keys)
        return await original(keys)

    ingress.publisher._seen.seen_many = counting  # type: ignore[method-assign]
    first = await ingress.post(payload)
    again = await ingress.post(payload)

    assert first.json() == {"published": 1, "duplicates": 0}
    assert again.json() == {"published": 0, "duplicates": 1}
    assert lookups == []  # a message minutes old cannot have left JetStream's duplicate window
    assert [h["Nats-Msg-Id"] for _, _, h in await ingress.stored()] == ["wamid.FRESH"]


async def test_a_client_that_leaves_mid_body_gets_nothing_published_and_no_answer(ingress: Ingress) -> None:
    body, headers = signed(text_message("wamid.GONE", "56911110000", "hola"), SECRET)
    parts: list[dict[str, object]] = [
        {"type": "http.request", "body": body[:20], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return parts.pop(0)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {"type": "http", "method": "POST", "path": "/webhook", "headers": raw_headers}
    await ingress.app(scope, receive, send)  # type: ignore[arg-type]

    assert sent == []
    assert await ingress.stored() == []
