"""The conversations read model: state, what the bot waits for, captured fields and the recent chat."""

from __future__ import annotations

from collections.abc import Callable

from contracts.intent import IntentName
from contracts.lead_events import ConversationState
from projections.readmodels.conversations import (
    CONVERSATIONS_PROJECTOR,
    RECENT_MESSAGES,
    ConversationRow,
    pending_question,
)
from tests.unit.leads_flow_support import (
    ADDRESS,
    CUSTOMER,
    CUSTOMER_PHONE,
    FIRST_MESSAGE,
    LEAD,
    PEDRO,
    TAP_CONFIRM,
    TAP_HOY,
    Scenario,
    customer_replies,
    rating_tap,
    says,
)
from tests.unit.projectors_support import customer_items, fold


def conversation(s: Scenario) -> ConversationRow:
    row: ConversationRow = fold(CONVERSATIONS_PROJECTOR, customer_items(s.events))[CUSTOMER]
    return row


def test_the_conversation_waits_for_what_the_orchestrator_waits_for_at_every_step() -> None:
    s = Scenario(PEDRO)
    steps: list[Callable[[], object]] = [
        lambda: s.customer(FIRST_MESSAGE), lambda: s.customer(TAP_HOY), lambda: s.customer(ADDRESS),
        lambda: s.customer(TAP_CONFIRM), lambda: s.accept(PEDRO), lambda: s.done(PEDRO),
        lambda: s.customer(rating_tap(4)),
    ]  # fmt: skip
    for step in steps:
        step()
        row, state = conversation(s), s.state
        assert row.state == state.conversation.value
        assert row.pending_question == state.pending_question.value
        assert row.current_lead_status == (state.lead.status.value if state.lead else None)


def test_the_conversation_shows_the_customer_and_the_fields_captured_so_far() -> None:
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    s.customer(TAP_HOY)
    row = conversation(s)
    assert (row.phone, row.profile_name, row.current_lead_id) == (CUSTOMER_PHONE, "Camila", LEAD)
    assert dict(row.fields) == {
        "service": "Gasfiteria", "comuna": "Ñuñoa", "problem": "se rompió la cañería del baño", "urgency": "hoy",
    }  # fmt: skip
    assert (row.state, row.pending_question) == ("collecting", "address")


def test_messages_in_and_out_are_counted_and_the_latest_kept_oldest_first() -> None:
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    for i in range(RECENT_MESSAGES):
        s.customer(says(f"hola {i}", IntentName.SMALLTALK))
    row = conversation(s)
    replies = len(customer_replies(s.events))
    assert (row.messages_in, row.messages_out) == (RECENT_MESSAGES + 1, replies)
    assert len(row.recent_messages) == RECENT_MESSAGES
    assert row.recent_messages[-1]["direction"] == "out"
    assert row.recent_messages[-2] == {
        "direction": "in", "at": row.recent_messages[-2]["at"], "id": row.recent_messages[-2]["id"],
        "type": "text", "text": f"hola {RECENT_MESSAGES - 1}", "reply_id": None,
    }  # fmt: skip


def test_a_technicians_messages_about_the_lead_stay_out_of_the_customers_chat() -> None:
    s = Scenario(PEDRO).up_to_offered()
    before = conversation(s)
    s.accept(PEDRO)
    after = conversation(s)
    assert after.messages_in == before.messages_in
    assert after.messages_out == before.messages_out + 1  # "Pedro Soto aceptó tu solicitud" only
    assert after.state == "job_in_progress"


def test_a_new_lead_starts_with_no_fields_captured() -> None:
    s = Scenario(PEDRO).up_to_completed()
    s.customer(rating_tap(5))
    s.customer(says("ahora necesito un electricista", service=None))
    row = conversation(s)
    assert (row.current_lead_id, row.leads_started, row.current_lead_status) == (f"{CUSTOMER}.2", 2, "draft")
    assert dict(row.fields) == {}


def test_the_pending_question_depends_only_on_which_fields_are_given() -> None:
    given = {"service": "Gasfiteria", "comuna": "Ñuñoa"}
    assert pending_question("collecting", LEAD, "draft", given) == "problem"
    assert pending_question("collecting", LEAD, "draft", {**given, "problem": "x", "urgency": "hoy"}) == "address"
    assert pending_question(ConversationState.CONFIRMING.value, LEAD, "draft", given) == "confirmation"
    assert pending_question("idle", None, None, {}) == "none"
