"""The daily counters: what happened each Chilean day."""

from __future__ import annotations

from datetime import UTC, date, datetime

from contracts.outbound import DeliveryStatus, ReplyDeliveryUpdated
from projections.readmodels.counters import DAILY_COUNTERS_PROJECTOR, DailyCounters
from tests.unit.leads_flow_support import PEDRO, Scenario, customer_replies, rating_tap
from tests.unit.projectors_support import T0, Log, customer_items, fold


def test_a_whole_conversation_counts_each_step_once_on_its_day() -> None:
    s = Scenario(PEDRO).up_to_completed()
    s.customer(rating_tap(5))
    counters: DailyCounters = fold(DAILY_COUNTERS_PROJECTOR, customer_items(s.events))[T0.date()]
    assert (counters.leads_created, counters.leads_submitted, counters.leads_assigned) == (1, 1, 1)
    assert (counters.leads_completed, counters.leads_rated, counters.leads_cancelled) == (1, 1, 0)
    assert counters.messages_in == 7  # five from the customer, two from the technician
    assert counters.messages_out == len(customer_replies(s.events)) + 4  # and four to the technician


def test_an_event_late_in_the_chilean_evening_counts_on_that_chilean_day() -> None:
    # 02:30 UTC on 4 March is 23:30 on 3 March in Santiago (UTC-3 in summer).
    late = datetime(2025, 3, 4, 2, 30, tzinfo=UTC)
    s = Scenario(PEDRO)
    s.now = late
    s.up_to_confirming()
    rows = fold(DAILY_COUNTERS_PROJECTOR, Log(late).record("customer-x", s.events, at=late))
    assert list(rows) == [date(2025, 3, 3)]


def test_only_failed_deliveries_are_counted() -> None:
    items = Log().record("deliveries-x", [
        ReplyDeliveryUpdated(wamid="w", status=status, occurred_at=T0)
        for status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)
    ])  # fmt: skip
    assert fold(DAILY_COUNTERS_PROJECTOR, items)[T0.date()].delivery_failures == 1
