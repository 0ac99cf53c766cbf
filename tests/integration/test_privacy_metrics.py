"""``conectapro_privacy_requests_total`` on the projections service's real ``/metrics``: every export and
erasure recorded, whoever answered it (operator API, CLI, closer), by kind, who asked and outcome, once
each, with no name in a label."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conectapro.data_export import record_privacy_request
from contracts.events import Event
from contracts.privacy_events import DataExported, ErasureOutcome, ExportOutcome, PersonForgotten
from eventstore import PostgresEventStore
from infra.metrics_server import serving_metrics
from infra.settings import Settings
from projections.service import build
from tests.integration.privacy_support import PRIVACY_MASTER_KEY

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 2, 10, tzinfo=UTC)
Labels = tuple[str, str, str]


def counts(text: str) -> dict[Labels, float]:
    return {
        (sample.labels["kind"], sample.labels["requested_by"], sample.labels["outcome"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "conectapro_privacy_requests_total"
    }


def erasure(requested_by: str, outcome: ErasureOutcome = ErasureOutcome.FORGOTTEN) -> PersonForgotten:
    return PersonForgotten(request_id=str(uuid.uuid4()), person_key="p0123456789abcdef0123",
                           requested_by=requested_by, outcome=outcome, decided_at=AT)  # fmt: skip


def export(requested_by: str) -> DataExported:
    return DataExported(request_id=str(uuid.uuid4()), person_key=None, requested_by=requested_by,
                        outcome=ExportOutcome.NOT_KNOWN, exported_at=AT)  # fmt: skip


async def test_every_request_is_counted_once_by_who_asked(store: PostgresEventStore) -> None:
    requests: list[Event] = [
        erasure("ana"), erasure("ana"), erasure("customer (whatsapp)"), erasure("retention"),
        erasure("cli", ErasureOutcome.ALREADY_FORGOTTEN), export("cli"), export("marisol_admin"),
    ]  # fmt: skip
    expected = {
        ("erasure", "admin", "forgotten"): 2, ("erasure", "whatsapp", "forgotten"): 1,
        ("erasure", "retention", "forgotten"): 1, ("erasure", "cli", "already_forgotten"): 1,
        ("export", "cli", "not_known"): 1, ("export", "admin", "not_known"): 1,
    }  # fmt: skip
    settings = Settings(privacy_master_key=PRIVACY_MASTER_KEY)
    stopping = asyncio.Event()
    async with (
        build(settings, store=store) as projections,
        serving_metrics("127.0.0.1", 0, service="projections") as port,
        httpx.AsyncClient() as client,
    ):
        running = asyncio.create_task(projections.run(stopping))
        try:
            before = counts((await client.get(f"http://127.0.0.1:{port}/metrics")).text)
            for event in requests:
                await record_privacy_request(store, event, str(uuid.uuid4()), AT)
            deadline = asyncio.get_running_loop().time() + 30
            while True:
                now = counts((await client.get(f"http://127.0.0.1:{port}/metrics")).text)
                added = {labels: value - before.get(labels, 0) for labels, value in now.items()}
                added = {labels: value for labels, value in added.items() if value}
                if added == expected or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert added == expected
            assert "marisol" not in (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        finally:
            stopping.set()
            with contextlib.suppress(asyncio.CancelledError):
                await running
