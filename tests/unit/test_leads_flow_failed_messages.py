"""A parked customer message: recorded on the customer's stream, and an apology at most once an hour."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from audit.engine import audit_events
from contracts.commands import ApologiseForFailedMessage, command_from_record, command_record
from contracts.inbound import InboundMessage
from contracts.lead_events import ConversationState, MessageHandlingFailed
from contracts.outbound import ReplyQueued, TextMessage
from orchestrator.parked import ParkedMessages
from tests.unit.audit_support import CAMILA, World
from tests.unit.leads_flow_support import CUSTOMER, CUSTOMER_PHONE, FIRST_MESSAGE, Scenario

APOLOGY = "Tuvimos un problema con tu mensaje, ¿puedes escribirlo de nuevo?"


def _failed(wamid: str = "wamid.BROKEN", phone: str = CUSTOMER_PHONE) -> ApologiseForFailedMessage:
    return ApologiseForFailedMessage(
        command_id=f"apology:{wamid}", customer_key=CUSTOMER, phone=phone, wamid=wamid, reason="failed 6 times: boom"
    )


def _apologies(events: Sequence[object]) -> list[ReplyQueued]:
    return [e for e in events if isinstance(e, ReplyQueued) and e.purpose == "message_failed"]


def test_the_customer_is_asked_to_write_again_and_the_failure_is_recorded() -> None:
    s = Scenario()
    s.customer(FIRST_MESSAGE)
    state_before = s.state

    events = s.run(_failed())

    [failed] = [e for e in events if isinstance(e, MessageHandlingFailed)]
    assert (failed.wamid, failed.reason, failed.apologised) == ("wamid.BROKEN", "failed 6 times: boom", True)
    [apology] = _apologies(events)
    assert apology.to == CUSTOMER_PHONE
    assert isinstance(apology.message, TextMessage) and apology.message.body == APOLOGY
    # Nothing else of the conversation moves: the customer can go on where they were.
    assert s.state.conversation == state_before.conversation == ConversationState.COLLECTING
    assert s.state.lead == state_before.lead


def test_a_first_message_that_failed_is_answered_at_the_number_it_came_from() -> None:
    s = Scenario()

    [apology] = _apologies(s.run(_failed(phone="56911110000")))

    assert apology.to == "56911110000"


def test_at_most_one_apology_an_hour_per_conversation() -> None:
    s = Scenario()
    s.customer(FIRST_MESSAGE)
    assert len(_apologies(s.run(_failed("wamid.A")))) == 1

    again = s.run(_failed("wamid.B"))
    s.now += timedelta(minutes=30)
    still_within = s.run(_failed("wamid.C"))
    s.now += timedelta(minutes=30)
    an_hour_later = s.run(_failed("wamid.D"))

    assert _apologies(again) == [] and _apologies(still_within) == []
    assert [e.apologised for e in again + still_within if isinstance(e, MessageHandlingFailed)] == [False, False]
    assert len(_apologies(an_hour_later)) == 1


def test_the_command_travels_in_the_decision_metadata_for_the_audit() -> None:
    command = _failed()

    assert command_from_record(command_record(command)) == command


async def test_apologies_recorded_by_the_real_handlers_audit_clean() -> None:
    world = World()
    await world.says(CAMILA, "hola, se me rompió la cañería en ñuñoa")
    parked = ParkedMessages(world.commands, world.directory, world.people)
    for wamid in ("wamid.P1", "wamid.P2"):  # the second one within the hour: recorded, no apology
        message = InboundMessage(wamid=wamid, sender_id=CAMILA, sender_wa_id=CAMILA, type="text", raw={})
        await parked.tell_sender(message, "failed 6 times: boom")
        world.advance(minutes=5)

    events = await world.events()
    report = audit_events(events)

    assert report.clean, report.render()
    assert [e.data["apologised"] for e in events if e.type == "MessageHandlingFailed"] == [True, False]
