"""The leads read model: one row per lead, agreeing with the orchestrator's own fold at every step."""

from __future__ import annotations

from datetime import timedelta

from contracts.commands import CloseUnratedLead, ExpireConversation, FollowUpJob, TimeoutOffer
from contracts.intent import Service, Urgency
from contracts.lead_events import LeadDrafted, LeadFields, LeadFieldsCaptured, LeadStatus
from orchestrator.domain.evolve import LEAD_TRIGGER_OF_EVENT
from orchestrator.domain.states import LEAD_TRANSITIONS
from projections.readmodels.leads import LEAD_EVENT_TYPES, LEADS_PROJECTOR, LeadRow, evolve_lead
from tests.unit.leads_flow_support import (
    CUSTOMER,
    CUSTOMER_PHONE,
    FIRST_MESSAGE,
    JUANA,
    LEAD,
    PEDRO,
    TAP_CANCEL,
    TAP_CONFIRM,
    Scenario,
    rating_tap,
    says,
)
from tests.unit.projectors_support import T0, Log, customer_items, fold


def lead_row(s: Scenario) -> LeadRow:
    row: LeadRow = fold(LEADS_PROJECTOR, customer_items(s.events))[LEAD]
    return row


def assert_agrees_with_the_domain(s: Scenario) -> None:
    row, lead = lead_row(s), s.state.lead
    assert lead is not None
    assert row.status == lead.status.value
    assert (row.service, row.comuna, row.urgency, row.problem, row.address) == (
        lead.fields.service, lead.fields.comuna, lead.fields.urgency, lead.fields.problem, lead.fields.address,
    )  # fmt: skip
    assert row.provider_id == lead.assigned_to
    assert row.offered_to == lead.offered_to
    assert row.rating == lead.rating


def test_a_first_message_drafts_a_lead_for_the_customer() -> None:
    s = Scenario(PEDRO)
    s.customer(FIRST_MESSAGE)
    row = lead_row(s)
    assert (row.lead_id, row.customer_key, row.customer_phone) == (LEAD, CUSTOMER, CUSTOMER_PHONE)
    assert (row.status, row.service, row.comuna) == ("draft", "Gasfiteria", "Ñuñoa")
    assert row.created_at == T0


def test_the_sample_conversation_ends_with_a_rated_lead_and_every_timestamp() -> None:
    s = Scenario(PEDRO).up_to_completed()
    s.customer(rating_tap(5))
    row = lead_row(s)
    assert (row.status, row.rating, row.provider_id, row.provider_name) == ("rated", 5, "pedro", "Pedro Soto")
    assert row.urgency == "hoy" and row.address == "Irarrázaval 1234 depto 5" and row.consent is True
    stamps = [row.created_at, row.submitted_at, row.offered_at, row.assigned_at, row.completed_at, row.rated_at]
    assert all(stamp is not None for stamp in stamps)
    assert stamps == sorted(stamps)  # type: ignore[type-var]
    assert row.closed_at == row.rated_at


def _declined_then_offered_again(s: Scenario) -> None:
    s.up_to_offered().decline(PEDRO)


def _cancelled_on_the_summary(s: Scenario) -> None:
    s.up_to_confirming().customer(TAP_CANCEL)


def _offer_timed_out(s: Scenario) -> None:
    s.up_to_offered().run(TimeoutOffer(command_id="t", customer_key=CUSTOMER, lead_id=LEAD, provider_id="pedro"))


def _draft_expired(s: Scenario) -> None:
    s.customer(FIRST_MESSAGE)
    s.run(ExpireConversation(command_id="e", customer_key=CUSTOMER, lead_id=LEAD))


def _closed_unrated(s: Scenario) -> None:
    s.up_to_completed().run(CloseUnratedLead(command_id="c", customer_key=CUSTOMER, lead_id=LEAD))


def _followed_up(s: Scenario) -> None:
    s.up_to_assigned().run(FollowUpJob(command_id="f", customer_key=CUSTOMER, lead_id=LEAD))


def test_the_row_agrees_with_the_orchestrator_at_the_end_of_every_story() -> None:
    for play in (
        _declined_then_offered_again, _cancelled_on_the_summary, _offer_timed_out, _draft_expired, _closed_unrated,
        _followed_up,
    ):  # fmt: skip
        s = Scenario(PEDRO, JUANA)
        play(s)
        assert_agrees_with_the_domain(s)


def test_a_lead_nobody_covers_is_unmatched_with_the_reason() -> None:
    s = Scenario(PEDRO)
    s.customer(says("necesito un cerrajero en putre", service=Service.CERRAJERIA, comuna="Putre",
                    problem_type="se me quedaron las llaves", urgency=Urgency.HOY))
    s.customer(says("calle 1", address="Calle 1"))
    s.customer(TAP_CONFIRM)
    row = lead_row(s)
    assert row.status == "unmatched" and row.closed_at is not None and row.end_reason


def test_captured_fields_change_only_what_they_set() -> None:
    log = Log()
    drafted = LeadDrafted(lead_id=LEAD, customer_key=CUSTOMER, phone=CUSTOMER_PHONE, drafted_at=T0)
    first = LeadFieldsCaptured(lead_id=LEAD, fields=LeadFields(service=Service.ELECTRICIDAD, comuna="Macul"),
                               captured_at=T0)
    second = LeadFieldsCaptured(lead_id=LEAD, fields=LeadFields(comuna="Ñuñoa"), captured_at=T0)
    row = fold(LEADS_PROJECTOR, log.record("customer-x", [drafted, first, second]))[LEAD]
    assert (row.service, row.comuna, row.status, row.version) == ("Electricidad", "Ñuñoa", "draft", 3)


def test_an_event_about_a_lead_never_drafted_is_left_out() -> None:
    [(event, ctx)] = Log().record("customer-x", [
        LeadFieldsCaptured(lead_id=LEAD, fields=LeadFields(comuna="Macul"), captured_at=T0)
    ])
    assert evolve_lead(None, event, ctx) is None


def test_a_repeated_draft_changes_nothing() -> None:
    drafted = LeadDrafted(lead_id=LEAD, customer_key=CUSTOMER, phone=CUSTOMER_PHONE, drafted_at=T0)
    [(event, ctx)] = Log().record("customer-x", [drafted])
    row = evolve_lead(None, event, ctx)
    assert evolve_lead(row, event, ctx._replace(recorded_at=T0 + timedelta(days=1))) is row


def test_every_lead_transition_of_the_domain_has_an_event_the_projection_reads() -> None:
    triggers_read = {LEAD_TRIGGER_OF_EVENT[t] for t in LEAD_EVENT_TYPES if t in LEAD_TRIGGER_OF_EVENT}
    assert {trigger for (_, trigger) in LEAD_TRANSITIONS} <= triggers_read
    assert {status.value for status in LeadStatus} >= {target.value for target in LEAD_TRANSITIONS.values()}
