"""Timer commands: their wire format, and how the orchestrator's commands handler decides them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from contracts.commands import CloseUnratedLead, ExpireConversation, FollowUpJob, TimeoutOffer, UnknownCommand
from contracts.events import StorePosition
from contracts.subjects import commands_partition_subject, commands_subject, partition_of
from orchestrator.commands_consumer import (
    CommandOutcome,
    command_headers,
    decode_command,
    encode_command,
)
from tests.unit.audit_support import CAMILA, World, customer_key, offered_to_juana

KEY = customer_key(CAMILA)
LEAD = f"{KEY}.1"


def timeout(provider_id: str) -> TimeoutOffer:
    return TimeoutOffer(command_id=f"timeout-offer:{LEAD}:{provider_id}:t", customer_key=KEY, lead_id=LEAD,
                        provider_id=provider_id)  # fmt: skip


@pytest.mark.parametrize(
    "command",
    [
        ExpireConversation(command_id="expire-draft:x", customer_key=KEY, lead_id=LEAD),
        TimeoutOffer(command_id="timeout-offer:x", customer_key=KEY, lead_id=LEAD, provider_id="p1"),
        FollowUpJob(command_id="follow-up:x", customer_key=KEY, lead_id=LEAD),
        CloseUnratedLead(command_id="close-unrated:x", customer_key=KEY, lead_id=LEAD),
    ],
)
def test_every_timer_command_survives_the_wire(command: ExpireConversation) -> None:
    assert decode_command(encode_command(command)) == command


def test_a_command_is_published_with_its_id_as_the_jetstream_message_id() -> None:
    command = FollowUpJob(command_id="follow-up:x", customer_key=KEY, lead_id=LEAD)
    assert command_headers(command)["Nats-Msg-Id"] == "follow-up:x"


def test_a_customers_commands_always_land_in_the_same_partition() -> None:
    assert commands_subject(KEY, 8) == commands_partition_subject(partition_of(KEY, 8))
    assert commands_subject(KEY, 8).startswith("conectapro.commands.p")


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"[1, 2]", b'{"type": "DropDatabase", "command_id": "x"}', b'{"command_id": "x"}'],
)
def test_anything_but_a_timer_command_is_refused(payload: bytes) -> None:
    with pytest.raises(UnknownCommand):
        decode_command(payload)


def test_a_timer_command_with_bad_fields_is_refused() -> None:
    with pytest.raises(ValidationError):
        decode_command(b'{"type": "FollowUpJob", "command_id": "x", "customer_key": "a.b", "lead_id": "nope"}')


async def test_an_unanswered_offer_is_decided_on_the_customers_stream() -> None:
    world = World()
    juana, _ = await offered_to_juana(world)
    await world.directory.catch_up()
    assert await world.commands.handle(timeout(juana)) is CommandOutcome.DECIDED
    types = [e.type for e in await world.stream(CAMILA)]
    assert types[-5:] == ["OfferExpired", "ReplyQueued", "MatchingAttempted", "ProviderOffered", "ReplyQueued"]


async def test_a_timer_delivered_twice_commits_once() -> None:
    world = World()
    juana, _ = await offered_to_juana(world)
    await world.directory.catch_up()
    await world.commands.handle(timeout(juana))
    before = await world.stream(CAMILA)
    assert await world.commands.handle(timeout(juana)) is CommandOutcome.DUPLICATE
    assert await world.stream(CAMILA) == before


async def test_a_stale_timer_writes_nothing_but_is_remembered_as_handled() -> None:
    world = World()
    juana, _ = await offered_to_juana(world)
    await world.taps("56933334444", f"offer:accept:{LEAD}")  # Juana answered in time
    before = await world.stream(CAMILA)
    assert await world.commands.handle(timeout(juana)) is CommandOutcome.STALE
    assert await world.stream(CAMILA) == before
    assert await world.store.is_handled(timeout(juana).command_id)


async def test_a_timer_for_a_customer_never_seen_is_stale() -> None:
    world = World()
    command = ExpireConversation(command_id="expire-draft:ghost", customer_key="ghost", lead_id="ghost.1")
    assert await world.commands.handle(command) is CommandOutcome.STALE


async def test_the_decision_records_its_command_and_the_directory_position_it_saw() -> None:
    world = World()
    juana, _ = await offered_to_juana(world)
    await world.directory.catch_up()
    await world.commands.handle(timeout(juana))
    decided = [e for e in await world.stream(CAMILA) if e.metadata.correlation_id == timeout(juana).command_id]
    assert decided
    checkpoint = world.directory.checkpoint
    position = StorePosition(checkpoint.transaction_id, checkpoint.global_position)
    for event in decided:
        assert event.metadata.command == timeout(juana)
        assert event.metadata.providers_checkpoint == position
        assert event.metadata.recorded_at == world.now
        # As stored: the command's record, the position as [transaction id, global position].
        stored = event.metadata.model_dump(mode="json")
        assert stored["command"] == {"type": "TimeoutOffer", **timeout(juana).model_dump()}
        assert stored["providers_checkpoint"] == [checkpoint.transaction_id, checkpoint.global_position]
