"""The record of privacy requests is read a page at a time (a real PostgreSQL; the API with a real NATS):
``since`` starts the read near its first request instead of the stream's start, pages follow each other
without losing or repeating a request (also when new ones arrive meanwhile), and the console's latest
requests read only those."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from nats.aio.client import Client as NATS

from conectapro.data_export import record_privacy_request
from conectapro.privacy_requests import latest_privacy_requests, privacy_requests
from contracts.events import RecordedEvent
from contracts.privacy_events import DataExported, ExportOutcome
from eventstore import PostgresEventStore
from projections.operator_api.app import ApiConfig, create_app

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 1, tzinfo=UTC)
RECORDED = 300
TOKEN = "privacy-pages-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


class CountingStore(PostgresEventStore):
    """The real store, counting the events its stream reads return."""

    events_read = 0

    async def read_stream(self, stream_id: str, from_version: int = 1, limit: int | None = None) -> list[RecordedEvent]:
        events = await super().read_stream(stream_id, from_version, limit)
        self.events_read += len(events)
        return events


async def record(store: PostgresEventStore, hour: int) -> str:
    """An export request answered ``hour`` hours after T0; its request id."""
    request_id, at = str(uuid.uuid4()), T0 + timedelta(hours=hour)
    event = DataExported(request_id=request_id, person_key=None, requested_by="cli",
                         outcome=ExportOutcome.NOT_KNOWN, exported_at=at)  # fmt: skip
    await record_privacy_request(store, event, request_id, at)
    return request_id


@pytest.fixture
async def store(read_models_database: str) -> AsyncIterator[CountingStore]:
    store = await CountingStore.connect(read_models_database, min_size=1, max_size=4)
    assert isinstance(store, CountingStore)
    yield store
    await store.close()


@pytest.fixture
async def recorded(store: CountingStore) -> list[str]:
    ids = [await record(store, hour) for hour in range(RECORDED)]
    store.events_read = 0
    return ids


async def test_since_reads_from_its_first_request_not_the_whole_record(
    store: CountingStore, recorded: list[str]
) -> None:
    page = await privacy_requests(store, since=T0 + timedelta(hours=RECORDED - 20))
    assert [r.request_id for r in page.items] == recorded[-20:]
    assert page.next_after is None
    # A binary search (≈ log2 300 single-event reads), the hour of clock slack, the 20 requests.
    assert store.events_read <= 20 + 1 + 12, store.events_read
    nothing = await privacy_requests(store, since=T0 + timedelta(days=365))
    assert nothing.items == [] and nothing.next_after is None


async def test_pages_give_every_request_once_also_those_recorded_meanwhile(
    store: CountingStore, recorded: list[str]
) -> None:
    seen, after, late = [], 0, []
    while True:
        store.events_read = 0
        page = await privacy_requests(store, after=after, limit=40)
        assert store.events_read <= 40
        seen += [r.request_id for r in page.items]
        if len(seen) == 120:
            late = [await record(store, RECORDED + n) for n in range(3)]
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == recorded + late


async def test_the_latest_requests_read_only_those(store: CountingStore, recorded: list[str]) -> None:
    latest = await latest_privacy_requests(store, 5)
    assert [r.request_id for r in latest] == recorded[-5:][::-1]
    assert store.events_read == 5


async def test_the_api_pages_with_a_cursor(store: CountingStore, recorded: list[str], nats_client: NATS) -> None:
    app = create_app(ApiConfig(token=TOKEN, secure_cookies=False), store=store, jetstream=nats_client.jetstream())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://operator") as api:
        seen: list[str] = []
        params: dict[str, str | int] = {"since": (T0 + timedelta(hours=200)).isoformat(), "limit": 30}
        while True:
            response = await api.get("/v1/privacy/requests", params=params, headers=BEARER)
            assert response.status_code == 200, response.text
            body = response.json()
            assert len(body["items"]) <= 30
            seen += [item["request_id"] for item in body["items"]]
            if body["next_cursor"] is None:
                break
            params["cursor"] = body["next_cursor"]
        assert seen == recorded[200:]
        for bad in ("nope", "eyJyIjotMX0", "eyJsIjoxfQ"):  # not base64 JSON, {"r":-1}, another listing's
            refused = await api.get("/v1/privacy/requests", params={"cursor": bad}, headers=BEARER)
            assert refused.status_code == 422, refused.text
        too_many = await api.get("/v1/privacy/requests", params={"limit": 5000}, headers=BEARER)
        assert too_many.status_code == 422
