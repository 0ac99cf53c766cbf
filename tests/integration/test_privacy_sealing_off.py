"""PRIVACY_SEALING_OFF_FOR_BENCHMARKS (benchmarks only): the same services with the encryption off store
personal fields in clear and still map phones to random person keys; without it they are sealed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from contracts.events import EventMetadata, NewEvent
from eventstore import NO_STREAM, PostgresEventStore
from infra.settings import Settings
from privacy.setup import protect

pytestmark = pytest.mark.integration

NAME = "Camila Rojas Sepúlveda"
KEY = "sealing-switch-master-key-0123456789abcdef"


def received(phone: str) -> NewEvent:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    data = {"wamid": f"wamid.{phone}", "role": "customer", "phone": phone, "profile_name": NAME,
            "message_type": "text", "text": "hola", "received_at": now.isoformat()}  # fmt: skip
    return NewEvent(event_id=uuid.uuid4(), type="MessageReceived", data=data,
                    metadata=EventMetadata(correlation_id=f"wamid.{phone}", recorded_at=now))  # fmt: skip


async def stored_text(store: PostgresEventStore, stream_id: str) -> str:
    return str(await store.pool.fetchval("SELECT data::text FROM events WHERE stream_id = $1", stream_id))


async def test_sealing_off_stores_in_clear_and_on_seals(read_models_database: str) -> None:
    clear = await PostgresEventStore.connect(read_models_database, min_size=1, max_size=2)
    sealed = await PostgresEventStore.connect(read_models_database, min_size=1, max_size=2)
    try:
        off = protect(clear, Settings(privacy_master_key=KEY, privacy_sealing_off_for_benchmarks=True))
        on = protect(sealed, Settings(privacy_master_key=KEY))
        for store, privacy, phone in ((clear, off, "56911110001"), (sealed, on, "56911110002")):
            person = await privacy.people.key_for(phone)
            assert person.startswith("p")  # random person keys either way
            await store.append(f"customer-{person}", NO_STREAM, [received(phone)])
            [event] = await store.read_stream(f"customer-{person}")
            assert event.data["profile_name"] == NAME and event.data["phone"] == phone
        assert NAME in await stored_text(clear, f"customer-{await off.people.key_for('56911110001')}")
        in_sealed = await stored_text(sealed, f"customer-{await on.people.key_for('56911110002')}")
        assert NAME not in in_sealed and "$sealed" in in_sealed
    finally:
        await clear.close()
        await sealed.close()
