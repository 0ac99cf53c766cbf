"""Handing a conversation to a person: asked for, or after three messages the bot could not use; the bot stays
silent, an operator takes it, writes inside WhatsApp's 24-hour window, and hands it back where the flow was."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts.commands import HandBackConversation, TakeConversation, Understanding, WriteToCustomer
from contracts.intent import IntentName, UnderstandingSource
from contracts.lead_events import (
    ConversationHandedBack,
    ConversationHandedOver,
    ConversationState,
    ConversationTaken,
    ConversationTrigger,
    HandBackAuthority,
    HandOverReason,
    MessageNotUnderstood,
)
from contracts.llm import OffFlowTopic
from orchestrator.domain.handover import ConversationActionRejected, Refusal
from orchestrator.domain.states import IllegalTransition, next_conversation_state
from orchestrator.leads_flow import fold
from orchestrator.understanding.detours import find_detour
from tests.unit.leads_flow_support import (
    CUSTOMER,
    CUSTOMER_PHONE,
    PEDRO,
    TAP_CONFIRM,
    Scenario,
    customer_replies,
    of_type,
    purposes,
    says,
    texts,
    transitions,
)

S = ConversationState
CT = ConversationTrigger


def asks_for_person(text: str = "quiero hablar con una persona") -> Understanding:
    return Understanding(source=UnderstandingSource.RULES, text=text, detour=find_detour(text))


GIBBERISH = says("asdf qwer", IntentName.UNKNOWN, confidence=0.2)


def take(operator: str = "ana") -> TakeConversation:
    return TakeConversation(command_id=f"take-{operator}", customer_key=CUSTOMER, operator=operator)


def write(text: str = "Hola, soy Ana de ConectaPro", operator: str = "ana", n: int = 1) -> WriteToCustomer:
    return WriteToCustomer(command_id=f"write-{n}", customer_key=CUSTOMER, operator=operator, text=text)


def hand_back(operator: str = "ana", *, by_admin: bool = False) -> HandBackConversation:
    return HandBackConversation(command_id="back", customer_key=CUSTOMER, operator=operator, by_admin=by_admin)


@pytest.mark.parametrize(
    "text",
    [
        "quiero hablar con una persona",
        "con un humano",
        "un ejecutivo",
        "¿me puede atender alguien?",
        "pásame con un ejecutivo porfa",
        "quiero hablar con alguien de verdad",
    ],
)
def test_the_rules_recognise_the_common_ways_of_asking_for_a_person(text: str) -> None:
    assert find_detour(text) is OffFlowTopic.ASKS_FOR_PERSON


def test_asking_for_a_person_hands_the_conversation_over_and_says_a_person_will_answer() -> None:
    s = Scenario(PEDRO)
    s.customer(says("hola, se me rompió la cañería, estoy en ñuñoa"))
    assert s.conversation() is S.COLLECTING
    new = s.customer(asks_for_person())
    assert of_type(new, ConversationHandedOver)[0].reason is HandOverReason.ASKED_FOR_PERSON
    assert transitions(new) == [("collecting", "handed_over", "handed_over")]
    assert purposes(new) == ["handed_over"]
    assert "persona" in texts(new)[0]
    assert s.state.resume_at is S.COLLECTING


def test_three_messages_in_a_row_not_understood_hand_over_and_an_understood_one_resets_the_count() -> None:
    s = Scenario(PEDRO)
    s.customer(says("hola, se me rompió la cañería, estoy en ñuñoa"))
    s.customer(GIBBERISH)
    s.customer(GIBBERISH)
    assert s.state.not_understood_in_a_row == 2
    s.customer(says("hola", IntentName.SMALLTALK))  # understood: the count starts again
    assert s.state.not_understood_in_a_row == 0
    s.customer(GIBBERISH)
    s.customer(GIBBERISH)
    assert s.conversation() is S.COLLECTING
    new = s.customer(GIBBERISH)
    assert [e.in_a_row for e in of_type(new, MessageNotUnderstood)] == [3]
    assert of_type(new, ConversationHandedOver)[0].reason is HandOverReason.NOT_UNDERSTOOD
    assert s.conversation() is S.HANDED_OVER
    assert purposes(new) == ["handed_over"]


def test_while_handed_over_the_bot_records_messages_and_stays_silent() -> None:
    s = Scenario(PEDRO)
    s.customer(asks_for_person())
    for message in (says("hola?"), says("cancelar", IntentName.CANCEL), asks_for_person()):
        new = s.customer(message)
        assert [type(e).__name__ for e in new] == ["MessageReceived", "IntentExtracted"]
    assert s.conversation() is S.HANDED_OVER


def test_an_operator_takes_writes_and_hands_back_and_the_flow_resumes_where_it_was() -> None:
    s = Scenario(PEDRO).up_to_confirming()
    s.customer(asks_for_person())
    assert s.state.resume_at is S.CONFIRMING
    taken = s.run(take())
    assert of_type(taken, ConversationTaken)[0].by == "ana"
    [written] = customer_replies(s.run(write()))
    assert (written.written_by, written.purpose, written.to) == ("ana", "agent_message", CUSTOMER_PHONE)
    assert written.message.plain_text == "Hola, soy Ana de ConectaPro"
    back = s.run(hand_back())
    assert transitions(back) == [("handed_over", "handed_back", "confirming")]
    assert s.conversation() is S.CONFIRMING and s.state.taken_by is None and s.state.resume_at is None
    [resumed] = customer_replies(back)
    assert resumed.message.plain_text.startswith("Te vuelve a atender el asistente automático")
    assert "[Sí, confirmo]" in resumed.message.plain_text  # the pending question, with its buttons
    # The bot answers again, as in the state it resumed.
    s.customer(TAP_CONFIRM)
    assert s.conversation() is S.WAITING_TECHNICIAN


def test_a_technician_accepting_while_handed_over_moves_the_state_it_resumes_at() -> None:
    s = Scenario(PEDRO).up_to_offered()
    s.customer(asks_for_person())
    new = s.accept(PEDRO)
    assert transitions(new) == [("handed_over", "technician_assigned", "handed_over")]
    assert s.conversation() is S.HANDED_OVER and s.state.resume_at is S.JOB_IN_PROGRESS
    s.run(take())
    s.run(hand_back())
    assert s.conversation() is S.JOB_IN_PROGRESS
    assert fold(s.events) == s.state


def test_writing_needs_the_conversation_taken_by_the_writer() -> None:
    s = Scenario(PEDRO)
    s.customer(asks_for_person())
    with pytest.raises(ConversationActionRejected) as nobody:
        s.run(write())
    assert nobody.value.refusal is Refusal.NOT_TAKEN
    s.run(take("beto"))
    with pytest.raises(ConversationActionRejected, match="taken by beto"):
        s.run(write(operator="ana"))


def test_handing_back_is_for_the_operator_who_took_the_conversation_as_writing_is() -> None:
    s = Scenario(PEDRO)
    s.customer(asks_for_person())
    with pytest.raises(ConversationActionRejected, match="nobody has taken it") as nobody:
        s.run(hand_back("beto"))
    assert nobody.value.refusal is Refusal.NOT_THEIRS_TO_HAND_BACK
    s.run(take("ana"))
    recorded = len(s.events)
    with pytest.raises(ConversationActionRejected, match="taken by ana"):
        s.run(hand_back("beto"))
    assert len(s.events) == recorded and s.conversation() is S.HANDED_OVER  # nothing recorded for it
    [back] = of_type(s.run(hand_back("ana")), ConversationHandedBack)
    assert (back.by, back.authority) == ("ana", HandBackAuthority.HOLDER)


def test_an_admin_hands_back_a_conversation_someone_else_holds_or_nobody_took() -> None:
    for holder in ("ana", None):
        s = Scenario(PEDRO)
        s.customer(asks_for_person())
        if holder:
            s.run(take(holder))
        [back] = of_type(s.run(hand_back("carla", by_admin=True)), ConversationHandedBack)
        assert (back.by, back.authority) == ("carla", HandBackAuthority.ADMIN)
        assert s.conversation() is S.IDLE


def test_an_admin_who_took_the_conversation_hands_it_back_as_its_holder() -> None:
    s = Scenario(PEDRO)
    s.customer(asks_for_person())
    s.run(take("carla"))
    [back] = of_type(s.run(hand_back("carla", by_admin=True)), ConversationHandedBack)
    assert back.authority is HandBackAuthority.HOLDER


def test_a_hand_back_recorded_while_anyone_could_is_re_decided_as_recorded() -> None:
    s = Scenario(PEDRO)
    s.customer(asks_for_person())
    s.run(take("ana"))
    old = HandBackConversation(
        command_id="back", customer_key=CUSTOMER, operator="beto", recorded_when_anyone_could=True
    )
    [back] = of_type(s.run(old), ConversationHandedBack)
    assert back.authority is None and "authority" not in back.model_dump(mode="json")  # as events were stored


def test_nobody_acts_on_a_conversation_the_bot_is_answering() -> None:
    s = Scenario(PEDRO)
    s.customer(says("hola"))
    for command in (take(), write(), hand_back()):
        with pytest.raises(ConversationActionRejected) as refused:
            s.run(command)
        assert refused.value.refusal is Refusal.NOT_HANDED_OVER


def test_writing_is_refused_outside_the_24_hour_window_and_allowed_again_once_the_customer_writes() -> None:
    s = Scenario(PEDRO)
    s.customer(asks_for_person())
    s.run(take())
    s.now += timedelta(hours=23, minutes=57)
    s.run(write(n=1))  # the customer wrote 23 h 59 min ago
    s.now += timedelta(minutes=2)
    with pytest.raises(ConversationActionRejected) as closed:
        s.run(write(n=2))
    assert closed.value.refusal is Refusal.WINDOW_CLOSED
    assert "24-hour" in closed.value.reason
    s.customer(says("¿sigue ahí alguien?"))
    s.run(write(n=3))


def test_handing_back_outside_the_window_sends_nothing() -> None:
    s = Scenario(PEDRO)
    s.customer(asks_for_person())
    s.run(take())
    s.now += timedelta(hours=25)
    back = s.run(hand_back())
    assert customer_replies(back) == []
    assert s.conversation() is S.IDLE


def test_handing_back_goes_only_to_the_state_handed_over_from() -> None:
    assert next_conversation_state(S.HANDED_OVER, CT.HANDED_BACK, resume_at=S.CLOSED) is S.CLOSED
    with pytest.raises(IllegalTransition):
        next_conversation_state(S.COLLECTING, CT.HANDED_BACK, resume_at=S.CLOSED)
    with pytest.raises(IllegalTransition):
        next_conversation_state(S.HANDED_OVER, CT.HANDED_BACK, resume_at=S.HANDED_OVER)
