"""Readers of the sender's facts find them where today's sender writes them (its own stream) and where
older senders wrote them (the queuing stream): audit, replay and the outbound read model agree on both."""

from __future__ import annotations

import pytest

from audit.engine import audit_events
from audit.replay import load_timeline, render_timeline
from contracts.outbound import DeliveryStatus, ReplyQueued, ReplySendSettled, Settlement, sender_stream_id
from eventstore import ANY_VERSION
from orchestrator.decision_path import to_new_events
from orchestrator.domain.ids import deterministic_ids
from projections.envelope import EventContext
from projections.readmodels.outbound import OUTBOUND_PROJECTOR
from tests.unit.audit_support import CAMILA, World, customer_stream, delivered, full_journey


@pytest.mark.parametrize("on_sender_stream", [False, True], ids=["stored-the-old-way", "on-the-senders-stream"])
async def test_the_audit_is_clean_and_counts_the_same_decisions_either_way(on_sender_stream: bool) -> None:
    world = World()
    await full_journey(world, on_sender_stream=on_sender_stream)
    report = audit_events(await world.events())
    assert report.clean, report.render()
    assert (report.streams, report.decisions) == (3, 10)  # Camila and two technicians; every decision


async def test_the_senders_facts_stay_off_the_decision_streams() -> None:
    world = World()
    await full_journey(world, on_sender_stream=True)
    camila = [e.type for e in await world.stream(CAMILA)]
    assert "ReplySent" not in camila
    sender = [e.type for e in await world.store.read_stream(sender_stream_id(customer_stream(CAMILA)))]
    assert sender.count("ReplySent") == sender.count("ReplySendAttempted") == camila.count("ReplyQueued")


@pytest.mark.parametrize("on_sender_stream", [False, True], ids=["stored-the-old-way", "on-the-senders-stream"])
async def test_replay_shows_each_reply_sent_with_what_whatsapp_reported(on_sender_stream: bool) -> None:
    world = World()
    await world.says(CAMILA, "hola, se me rompió la cañería, estoy en ñuñoa")
    await world.send_everything(on_sender_stream=on_sender_stream)
    await delivered(world, "wamid.OUT00001", DeliveryStatus.DELIVERED, DeliveryStatus.READ)
    text = render_timeline(await load_timeline(world.store, customer_stream(CAMILA)))
    assert "    sent 12:01:00 as wamid.OUT00001 · delivered 12:01:00 · read 12:01:00" in text
    assert "not sent (yet)" not in text


async def test_replay_says_how_an_attempt_the_sender_never_recorded_was_settled() -> None:
    world = World()
    await world.says(CAMILA, "hola, se me rompió la cañería, estoy en ñuñoa")
    [queued] = [e.to_event() for e in await world.stream(CAMILA) if e.type == ReplyQueued.TYPE]
    assert isinstance(queued, ReplyQueued)
    settled = ReplySendSettled(reply_id=queued.reply_id, attempt=1, settled_by=Settlement.CONFIRMED_BY_STATUS,
                               settled_at=world.now, wamid="wamid.X", status=DeliveryStatus.SENT)  # fmt: skip
    cause = f"reply:{queued.reply_id}:outcome"
    events = to_new_events([settled], cause=cause, now=world.now, ids=deterministic_ids(cause))
    await world.store.append(sender_stream_id(customer_stream(CAMILA)), ANY_VERSION, events, inbox_id=cause)
    text = render_timeline(await load_timeline(world.store, customer_stream(CAMILA)))
    assert "the sender stopped mid-send (attempt 1); after a restart a status (sent) named it" in text


async def test_the_outbound_read_model_has_the_same_rows_either_way() -> None:
    rows = []
    for on_sender_stream in (False, True):
        world = World()
        await full_journey(world, on_sender_stream=on_sender_stream)
        items = [
            (
                recorded.to_event(),
                EventContext(
                    recorded.stream_id, recorded.stream_version, recorded.global_position, recorded.metadata.recorded_at
                ),
            )
            for recorded in await world.events()
            if recorded.type in OUTBOUND_PROJECTOR.event_types
        ]
        rows.append(OUTBOUND_PROJECTOR.fold({}, items))
    old_way, own_stream = rows
    assert own_stream.keys() == old_way.keys()
    # updated_at is when the row last changed: the sender's records land at other positions, same clock.
    assert {k: r._replace(updated_at=None) for k, r in own_stream.items()} == {
        k: r._replace(updated_at=None) for k, r in old_way.items()
    }
    assert {r.status for r in own_stream.values()} == {"sent"}
    assert all(r.stream_id.startswith("customer-") or r.stream_id.startswith("provider-") for r in own_stream.values())
