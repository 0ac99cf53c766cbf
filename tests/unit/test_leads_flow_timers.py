"""Timer commands from the closer: each acts only if the lead is still where the timer expects it."""

from __future__ import annotations

from contracts.commands import CloseUnratedLead, ExpireConversation, FollowUpJob, TimeoutOffer
from contracts.intent import IntentName, Urgency
from contracts.lead_events import (
    CompletionReporter,
    ConversationState,
    JobCompleted,
    LeadClosed,
    LeadExpired,
    LeadStatus,
    OfferExpired,
    ProviderOffered,
    RatingRequested,
    RatingRequestReason,
)
from tests.unit.leads_flow_support import (
    CUSTOMER,
    FIRST_MESSAGE,
    JUANA,
    LEAD,
    PEDRO,
    Scenario,
    of_type,
    purposes,
    rating_tap,
    says,
    technician_replies,
    texts,
    transitions,
    types,
)

EXPIRE = ExpireConversation(command_id=f"expire:{LEAD}", customer_key=CUSTOMER, lead_id=LEAD)
FOLLOW_UP = FollowUpJob(command_id=f"follow-up:{LEAD}", customer_key=CUSTOMER, lead_id=LEAD)
CLOSE = CloseUnratedLead(command_id=f"close:{LEAD}", customer_key=CUSTOMER, lead_id=LEAD)


def timeout(provider_id: str) -> TimeoutOffer:
    return TimeoutOffer(
        command_id=f"timeout:{LEAD}:{provider_id}", customer_key=CUSTOMER, lead_id=LEAD, provider_id=provider_id
    )


def test_an_abandoned_draft_expires_with_a_goodbye() -> None:
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    out = s.run(EXPIRE)
    assert of_type(out, LeadExpired)[0].previous_status is LeadStatus.DRAFT
    assert transitions(out) == [("collecting", "lead_expired", "closed")]
    assert texts(out)[0].startswith("Como no alcanzamos a completar tu solicitud, la cerré por ahora.")
    assert out[-1].in_reply_to == EXPIRE.command_id  # type: ignore[attr-defined]


def test_a_customer_who_writes_after_the_closer_looked_keeps_the_draft() -> None:
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    looked = EXPIRE.model_copy(update={"customer_messages_seen": 1})  # what the closer saw: one message
    s.customer(says("hoy", urgency=Urgency.HOY))  # written while the command was on its way

    assert s.run(looked) == []
    assert s.state.open_lead is not None and s.state.open_lead.status is LeadStatus.DRAFT


def test_an_expiry_counted_on_every_message_the_customer_sent_still_expires() -> None:
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    s.customer(says("hoy", urgency=Urgency.HOY))

    out = s.run(EXPIRE.model_copy(update={"customer_messages_seen": 2}))

    assert transitions(out) == [("collecting", "lead_expired", "closed")]


def test_a_draft_abandoned_at_the_summary_expires_too() -> None:
    s = Scenario(PEDRO).up_to_confirming()
    assert transitions(s.run(EXPIRE)) == [("confirming", "lead_expired", "closed")]


def test_expiring_a_submitted_lead_does_nothing() -> None:
    assert Scenario(PEDRO).up_to_offered().run(EXPIRE) == []


def test_expiring_an_older_lead_does_nothing() -> None:
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    s.customer(says("cancelar", IntentName.CANCEL))
    s.customer(FIRST_MESSAGE)  # lead .2
    assert s.run(EXPIRE) == []


def test_an_unanswered_offer_goes_to_the_next_candidate() -> None:
    s = Scenario(JUANA, PEDRO).up_to_offered()
    out = s.run(timeout("juana"))
    assert of_type(out, OfferExpired)[0].provider_id == "juana"
    assert of_type(out, ProviderOffered)[0].provider_id == "pedro"
    assert [(r.to, r.purpose) for r in technician_replies(out)] == [
        (JUANA.phone, "offer_expired"),
        (PEDRO.phone, "job_offer"),
    ]
    assert s.views["juana"].pending_offers == ()


def test_a_timeout_for_an_offer_already_answered_does_nothing() -> None:
    s = Scenario(JUANA, PEDRO).up_to_offered()
    s.decline(JUANA)
    assert s.run(timeout("juana")) == []


def test_an_unanswered_offer_with_nobody_else_leaves_the_lead_unmatched() -> None:
    s = Scenario(PEDRO).up_to_offered()
    out = s.run(timeout("pedro"))
    assert "LeadUnmatched" in types(out)
    assert s.state.conversation is ConversationState.CLOSED


def test_an_assigned_job_past_its_window_asks_the_customer_whether_it_was_done() -> None:
    s = Scenario(PEDRO).up_to_assigned()
    out = s.run(FOLLOW_UP)
    assert of_type(out, RatingRequested)[0].reason is RatingRequestReason.FOLLOW_UP
    assert transitions(out) == [("job_in_progress", "follow_up_due", "awaiting_rating")]
    assert texts(out)[0].startswith("¿Pedro Soto ya terminó el trabajo?")


def test_a_rating_after_the_follow_up_completes_the_job_on_the_customers_word() -> None:
    s = Scenario(PEDRO).up_to_assigned()
    s.run(FOLLOW_UP)
    out = s.customer(rating_tap(3))
    assert of_type(out, JobCompleted)[0].reported_by is CompletionReporter.CUSTOMER
    assert types(out)[-4:] == ["LeadRated", "ConversationStateChanged", "ReplyQueued", "ReplyQueued"]
    assert s.state.lead is not None and s.state.lead.status is LeadStatus.RATED


def test_the_technician_marking_done_after_the_follow_up_does_not_ask_for_the_rating_twice() -> None:
    s = Scenario(PEDRO).up_to_assigned()
    s.run(FOLLOW_UP)
    out = s.done(PEDRO)
    assert of_type(out, RatingRequested) == []
    assert purposes(out) == ["job_done"]
    assert s.state.conversation is ConversationState.AWAITING_RATING


def test_a_follow_up_for_a_completed_job_does_nothing() -> None:
    assert Scenario(PEDRO).up_to_completed().run(FOLLOW_UP) == []


def test_a_follow_up_while_the_customer_decides_to_cancel_does_nothing() -> None:
    s = Scenario(PEDRO).up_to_assigned()
    s.customer(says("cancelar", IntentName.CANCEL))
    assert s.run(FOLLOW_UP) == []


def test_a_rating_that_never_comes_closes_the_lead() -> None:
    s = Scenario(PEDRO).up_to_completed()
    out = s.run(CLOSE)
    assert of_type(out, LeadClosed)[0].previous_status is LeadStatus.COMPLETED
    assert transitions(out) == [("awaiting_rating", "rating_window_closed", "closed")]
    assert purposes(out) == ["closed"]


def test_an_unanswered_follow_up_closes_the_lead_and_frees_the_technician() -> None:
    s = Scenario(PEDRO).up_to_assigned()
    s.run(FOLLOW_UP)
    out = s.run(CLOSE)
    assert of_type(out, LeadClosed)[0].previous_status is LeadStatus.ASSIGNED
    assert s.views["pedro"].active_jobs == 0


def test_closing_a_rated_lead_does_nothing() -> None:
    s = Scenario(PEDRO).up_to_completed()
    s.customer(rating_tap(5))
    assert s.run(CLOSE) == []
