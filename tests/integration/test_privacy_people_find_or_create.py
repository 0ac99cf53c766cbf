"""Finding or making a person in one statement, against the real PostgreSQL: a customer from before sealing
whose stream exists is adopted under their old key (not duplicated under a new one), anyone else gets a
random key, and two processes meeting the same new phone at once make one person."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts.events import EventMetadata, NewEvent
from eventstore import NO_STREAM, PostgresEventStore
from infra.settings import Settings
from privacy.people import People, legacy_person_key
from privacy.setup import protect
from tests.integration.privacy_support import PRIVACY_MASTER_KEY

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def received(phone: str) -> NewEvent:
    data = {"wamid": f"wamid.{phone}", "role": "customer", "phone": phone, "profile_name": "Camila",
            "message_type": "text", "text": "hola", "received_at": NOW.isoformat()}  # fmt: skip
    return NewEvent(event_id=uuid.uuid4(), type="MessageReceived", data=data,
                    metadata=EventMetadata(correlation_id=f"wamid.{phone}", recorded_at=NOW))  # fmt: skip


class CountingPool:
    """The pool a :class:`People` is given, counting the statements it sends."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self.statements = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._pool, name)
        if name not in {"fetch", "fetchrow", "fetchval", "execute"}:
            return method

        async def counted(*args: Any) -> Any:
            self.statements += 1
            return await method(*args)

        return counted


def people_of(store: PostgresEventStore) -> tuple[People, CountingPool]:
    privacy = protect(store, Settings(privacy_master_key=PRIVACY_MASTER_KEY))
    pool = CountingPool(store.pool)
    return People(pool, privacy.master, privacy.keyring), pool  # type: ignore[arg-type]


async def rows_of(store: PostgresEventStore, person_key: str) -> int:
    return int(await store.pool.fetchval("SELECT count(*) FROM privacy_people WHERE person_key = $1", person_key))


async def test_a_customer_from_before_sealing_is_adopted_in_one_statement(
    store: PostgresEventStore, read_models_database: str
) -> None:
    phone = "56911120001"
    legacy = legacy_person_key(phone)
    await store.append(f"customer-{legacy}", NO_STREAM, [received(phone)])  # as stores before sealing wrote it
    people, pool = people_of(store)

    assert await people.key_for(phone) == legacy
    assert pool.statements == 1
    assert await rows_of(store, legacy) == 1
    # Another process finds them under that key, and their data key unwraps under it.
    other = await PostgresEventStore.connect(read_models_database, min_size=1, max_size=2)
    try:
        privacy = protect(other, Settings(privacy_master_key=PRIVACY_MASTER_KEY))
        assert await privacy.people.key_for(phone) == legacy
        await privacy.keyring.load([legacy])
        assert privacy.keyring.key(legacy) is not None
    finally:
        await other.close()


async def test_someone_new_gets_a_random_key_in_one_statement_and_keeps_it(store: PostgresEventStore) -> None:
    phone = "56911120002"
    people, pool = people_of(store)
    person = await people.key_for(phone)
    assert re.fullmatch(r"p[0-9a-f]{20}", person) and person != legacy_person_key(phone)
    assert pool.statements == 1
    fresh, fresh_pool = people_of(store)  # another process: no memory of them, one statement finds them
    assert await fresh.key_for(phone) == person and await fresh.find(phone) == person
    assert fresh_pool.statements == 2
    assert await rows_of(store, person) == 1


async def test_two_processes_making_the_same_person_at_once_make_one(store: PostgresEventStore) -> None:
    phone = "56911120003"
    made = await asyncio.gather(*(people_of(store)[0].key_for(phone) for _ in range(6)))
    assert len(set(made)) == 1
    assert await rows_of(store, made[0]) == 1
