"""A decision's metadata: what the audit needs (the directory position, the timer command) are typed fields,
and metadata written before they were (open keys in the metadata document) still reads, unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from audit.engine import StoredEvent, audit_events
from contracts.commands import ExpireConversation, TimeoutOffer
from contracts.events import EventMetadata, RecordedEvent, StorePosition
from tests.unit.audit_support import CAMILA, World, customer_key, offered_to_juana

# Documents exactly as the handler and the commands consumer stored them while these were open keys (the
# second by a closer from before ``customer_messages_seen``), with a key no model knows.
WRITTEN_BEFORE = [
    '{"correlation_id":"wamid.X","causation_id":"wamid.X","trace_id":null,'
    '"recorded_at":"2026-11-30T14:05:07.123456Z","providers_checkpoint":[9001,412]}',
    '{"correlation_id":"expire-draft:k1.1","causation_id":"expire-draft:k1.1","trace_id":null,'
    '"recorded_at":"2026-11-30T14:05:07.123456Z","command":{"type":"ExpireConversation",'
    '"command_id":"expire-draft:k1.1","customer_key":"k1","lead_id":"k1.1"},"providers_checkpoint":[9001,412],'
    '"written_by":"an older version"}',
]


def test_metadata_written_with_open_keys_reads_into_the_typed_fields() -> None:
    message, timer = (EventMetadata.model_validate_json(document) for document in WRITTEN_BEFORE)
    assert message.providers_checkpoint == StorePosition(transaction_id=9001, global_position=412)
    assert message.command is None
    assert timer.command == ExpireConversation(command_id="expire-draft:k1.1", customer_key="k1", lead_id="k1.1")
    assert timer.recorded_at == datetime(2026, 11, 30, 14, 5, 7, 123456, tzinfo=UTC)


@pytest.mark.parametrize("document", WRITTEN_BEFORE)
def test_metadata_read_back_is_the_document_it_was_never_another(document: str) -> None:
    # Read as the PostgreSQL store reads it, then as the in-memory store does: what would be written again
    # is the stored document (plus only the field a newer command added, at its default).
    stored: dict[str, Any] = orjson.loads(document)
    if "command" in stored:
        stored["command"] = {**stored["command"], "customer_messages_seen": None}
    for metadata in (EventMetadata.model_validate_json(document), EventMetadata.model_validate(orjson.loads(document))):
        assert metadata.model_dump(mode="json") == stored


def test_metadata_of_a_fact_writes_neither_key() -> None:
    metadata = EventMetadata(correlation_id="reply:1", recorded_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert set(metadata.model_dump(mode="json")) == {"correlation_id", "causation_id", "trace_id", "recorded_at"}


@pytest.mark.parametrize(
    "change",
    [
        {"command": {"type": "DropDatabase", "command_id": "x"}},
        {"command": {"type": "FollowUpJob", "command_id": "x"}},
        {"providers_checkpoint": "somewhere"},
    ],
)
def test_metadata_that_is_not_what_a_decision_records_is_refused(change: dict[str, Any]) -> None:
    document = {**orjson.loads(WRITTEN_BEFORE[0]), **change}
    with pytest.raises(ValidationError):
        EventMetadata.model_validate(document)


def written_before(event: RecordedEvent) -> RecordedEvent:
    """``event`` with its metadata as the code before typed fields stored it: the same keys, in a document."""
    document = orjson.loads(event.metadata.model_dump_json())
    return RecordedEvent.model_validate({**event.model_dump(), "metadata": document})


async def test_a_store_whose_timer_decision_was_written_before_audits_clean_on_the_views_it_recorded() -> None:
    world = World()
    juana, _ = await offered_to_juana(world)
    await world.directory.catch_up()
    lagging_at = world.directory.checkpoint
    await world.register("Ana Díaz", "56955554444")  # the timer's directory has not seen her
    lead_id = f"{customer_key(CAMILA)}.1"
    world.advance(minutes=11)
    timeout = TimeoutOffer(command_id="timeout", customer_key=customer_key(CAMILA), lead_id=lead_id, provider_id=juana)
    await world.commands.handle(timeout)

    events = [written_before(event) for event in await world.events()]

    timer = [StoredEvent.of(e) for e in events if e.metadata.correlation_id == "timeout"]
    assert timer and all(e.timer_command() == timeout for e in timer)
    assert all(e.providers_at() == lagging_at for e in timer)
    assert audit_events(events).clean
