"""The audit over PostgreSQL reads what a decision recorded in its metadata (the technicians' directory
position, the timer command) as the metadata model stores it, and re-decides on exactly those views."""

from __future__ import annotations

import asyncio

import pytest

from audit.runner import run_audit
from contracts.commands import TimeoutOffer
from eventstore import PostgresEventStore
from tests.unit.audit_support import CAMILA, World, customer_key, offered_to_juana

pytestmark = pytest.mark.integration


async def _timer_decided_on_a_lagging_directory(dsn: str) -> None:
    store = await PostgresEventStore.connect(dsn, max_size=4)
    try:
        world = World(store)
        juana, pedro = await offered_to_juana(world)
        await world.directory.catch_up()
        # Ana would be offered the lead next if the timer's directory had seen her registration.
        await world.register("Ana Díaz", "56955554444")
        lead_id = f"{customer_key(CAMILA)}.1"
        world.advance(minutes=11)
        await world.commands.handle(
            TimeoutOffer(command_id="timeout", customer_key=customer_key(CAMILA), lead_id=lead_id, provider_id=juana)
        )
        [offered] = [e for e in await world.events() if e.type == "ProviderOffered" and e.metadata.command]
        assert offered.data["provider_id"] == pedro  # on the views the timer saw, without Ana
    finally:
        await store.close()


def test_a_timer_decided_on_a_lagging_directory_audits_clean_from_postgres(migrated_database: str) -> None:
    asyncio.run(_timer_decided_on_a_lagging_directory(migrated_database))

    for jobs in (1, 2):
        report, _ = run_audit(migrated_database, jobs=jobs)
        assert report.clean, report.render()
        assert report.decisions == 8  # 3 registrations, 4 messages, the timer
