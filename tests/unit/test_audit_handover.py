"""The audit re-decides a handed-over conversation like any other: the hand-over, every operator action
(rebuilt from the events that name the operator) and the bot resuming afterwards."""

from __future__ import annotations

import pytest

from audit.engine import audit_events
from audit.replay import load_timeline, render_timeline
from contracts.commands import HandBackConversation, OperatorConversationCommand, TakeConversation, WriteToCustomer
from contracts.events import RecordedEvent
from orchestrator.domain.handover import ConversationActionRejected
from projections.operator_api.conversation_actions import execute
from tests.unit.audit_support import CAMILA, World, customer_key, customer_stream, offered_to_juana, tampered

KEY = customer_key(CAMILA)


async def handed_over_and_back(world: World) -> list[RecordedEvent]:
    await offered_to_juana(world)
    await world.says(CAMILA, "quiero hablar con una persona")
    await world.says(CAMILA, "hola? alguien?")  # recorded, not answered

    async def act(command: OperatorConversationCommand) -> None:
        await execute(world.store, command, clock=lambda: world.now, directory=world.directory)

    await act(TakeConversation(command_id="take-1", customer_key=KEY, operator="ana"))
    text = "Hola Camila, soy Ana. El técnico te contactará hoy."
    await act(WriteToCustomer(command_id="write-1", customer_key=KEY, operator="ana", text=text))
    await act(HandBackConversation(command_id="back-1", customer_key=KEY, operator="ana"))
    await world.says(CAMILA, "estado")
    await world.send_everything(on_sender_stream=True)
    return await world.events()


async def test_a_conversation_handed_over_taken_written_and_handed_back_audits_clean() -> None:
    events = await handed_over_and_back(World())
    report = audit_events(events)
    assert report.clean, report.render()
    camila = [e for e in events if e.stream_id == customer_stream(CAMILA)]
    types = [e.type for e in camila]
    assert {"ConversationHandedOver", "ConversationTaken", "ConversationHandedBack"} <= set(types)
    written = [e for e in camila if e.type == "ReplyQueued" and e.data.get("written_by") == "ana"]
    assert len(written) == 1 and written[0].metadata.correlation_id == "write-1"


async def test_a_message_signed_by_an_operator_who_had_not_taken_the_conversation_is_reported() -> None:
    events = await handed_over_and_back(World())
    i = next(i for i, e in enumerate(events) if e.data.get("written_by") == "ana")
    report = audit_events(tampered(events, i, data={**events[i].data, "written_by": "beto"}))
    [divergence] = report.divergences[customer_stream(CAMILA)]
    assert divergence.cause == "write-1"
    assert "take the conversation before writing (it is taken by ana)" in " ".join(divergence.lines)


async def test_a_hand_back_recorded_while_anyone_could_hand_back_still_audits_clean() -> None:
    events = await handed_over_and_back(World())
    i = next(i for i, e in enumerate(events) if e.type == "ConversationHandedBack")
    assert events[i].data["authority"] == "holder"
    # As the earlier code stored it: no authority, by an agent who had not taken the conversation.
    old = {key: value for key, value in events[i].data.items() if key != "authority"} | {"by": "beto"}
    report = audit_events(tampered(events, i, data=old))
    assert report.clean, report.render()


async def test_a_hand_back_signed_by_an_agent_who_had_not_taken_the_conversation_is_reported() -> None:
    events = await handed_over_and_back(World())
    i = next(i for i, e in enumerate(events) if e.type == "ConversationHandedBack")
    report = audit_events(tampered(events, i, data={**events[i].data, "by": "beto"}))
    [divergence] = report.divergences[customer_stream(CAMILA)]
    assert divergence.cause == "back-1"
    assert "only the operator who took the conversation, or an admin" in " ".join(divergence.lines)


async def test_an_admin_handing_back_a_conversation_another_operator_took_audits_clean() -> None:
    world = World()
    await offered_to_juana(world)
    await world.says(CAMILA, "quiero hablar con una persona")
    for command in (
        TakeConversation(command_id="take-1", customer_key=KEY, operator="ana"),
        HandBackConversation(command_id="back-1", customer_key=KEY, operator="carla", by_admin=True),
    ):
        await execute(world.store, command, clock=lambda: world.now, directory=world.directory)
    events = await world.events()
    assert [e.data["authority"] for e in events if e.type == "ConversationHandedBack"] == ["admin"]
    report = audit_events(events)
    assert report.clean, report.render()
    text = render_timeline(await load_timeline(world.store, customer_stream(CAMILA)))
    assert "handed back to the bot by operator carla (an admin's override)" in text


async def test_a_changed_hand_over_is_reported_at_the_message_that_caused_it() -> None:
    events = await handed_over_and_back(World())
    i = next(i for i, e in enumerate(events) if e.type == "ConversationHandedOver")
    report = audit_events(tampered(events, i, data={**events[i].data, "reason": "not_understood"}))
    [divergence] = report.divergences[customer_stream(CAMILA)]
    expected = 'ConversationHandedOver.reason: stored "not_understood", re-decided "asked_for_person"'
    assert divergence.lines[0].endswith(expected)


async def test_an_action_the_state_refuses_records_nothing() -> None:
    world = World()
    await offered_to_juana(world)
    before = len(await world.events())
    with pytest.raises(ConversationActionRejected):
        await execute(world.store, TakeConversation(command_id="take-x", customer_key=KEY, operator="ana"),
                      clock=lambda: world.now)  # fmt: skip
    assert len(await world.events()) == before
    assert not await world.store.is_handled("take-x")


async def test_the_replay_shows_the_hand_over_and_who_wrote_what() -> None:
    world = World()
    await handed_over_and_back(world)
    text = render_timeline(await load_timeline(world.store, customer_stream(CAMILA)))
    assert "handed over to a person (asked_for_person)" in text
    assert "taken by operator ana" in text
    assert "[agent_message] written by operator ana: " in text
    assert "handed back to the bot by operator ana" in text
