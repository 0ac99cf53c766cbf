"""Read model ``read_models.daily_counters``: what happened each day, for the stats endpoint.

Days are Chilean days (America/Santiago, where customers and technicians live), taken from each event's
``recorded_at`` (the decision's clock), so a rebuild counts every event on the same day as the live run did.
"""

from __future__ import annotations

from datetime import date
from types import MappingProxyType
from typing import NamedTuple
from zoneinfo import ZoneInfo

from contracts.events import Event
from contracts.lead_events import (
    JobCompleted,
    LeadAssigned,
    LeadCancelled,
    LeadClosed,
    LeadDrafted,
    LeadExpired,
    LeadRated,
    LeadSubmitted,
    LeadUnmatched,
    MessageReceived,
)
from contracts.outbound import DeliveryStatus, ReplyDeliveryUpdated, ReplyFailed, ReplyQueued, ReplySent
from projections.envelope import EventContext
from projections.projector import Projector
from projections.table import Table

CHILE = ZoneInfo("America/Santiago")


class DailyCounters(NamedTuple):
    day: date
    leads_created: int = 0
    leads_submitted: int = 0
    leads_assigned: int = 0
    leads_completed: int = 0
    leads_rated: int = 0
    leads_cancelled: int = 0
    leads_expired: int = 0
    leads_unmatched: int = 0
    leads_closed: int = 0
    messages_in: int = 0
    messages_out: int = 0
    replies_sent: int = 0
    replies_failed: int = 0
    delivery_failures: int = 0


COUNTER_NAMES = DailyCounters._fields[1:]

DAILY_COUNTERS = Table(
    "read_models.daily_counters", DailyCounters, {"day": "date", **dict.fromkeys(COUNTER_NAMES, "integer")}
)

#: Which counter each event type adds one to.
COUNTER_OF_EVENT = MappingProxyType(
    {
        LeadDrafted.TYPE: "leads_created",
        LeadSubmitted.TYPE: "leads_submitted",
        LeadAssigned.TYPE: "leads_assigned",
        JobCompleted.TYPE: "leads_completed",
        LeadRated.TYPE: "leads_rated",
        LeadCancelled.TYPE: "leads_cancelled",
        LeadExpired.TYPE: "leads_expired",
        LeadUnmatched.TYPE: "leads_unmatched",
        LeadClosed.TYPE: "leads_closed",
        MessageReceived.TYPE: "messages_in",
        ReplyQueued.TYPE: "messages_out",
        ReplySent.TYPE: "replies_sent",
        ReplyFailed.TYPE: "replies_failed",
        ReplyDeliveryUpdated.TYPE: "delivery_failures",
    }
)


def chilean_day(ctx: EventContext) -> date:
    return ctx.recorded_at.astimezone(CHILE).date()


def evolve_counters(row: DailyCounters | None, event: Event, ctx: EventContext) -> DailyCounters | None:
    counter = COUNTER_OF_EVENT.get(event.TYPE)
    if counter is None:
        return row
    current = row if row is not None else DailyCounters(chilean_day(ctx))
    return current._replace(**{counter: getattr(current, counter) + 1})


def counters_key(event: Event, ctx: EventContext) -> date | None:
    # Only failed deliveries are counted; the others route nowhere (so evolve never sees them).
    if event.TYPE == ReplyDeliveryUpdated.TYPE and getattr(event, "status", None) is not DeliveryStatus.FAILED:
        return None
    return chilean_day(ctx)


DAILY_COUNTERS_PROJECTOR: Projector[date, DailyCounters] = Projector(
    DAILY_COUNTERS, frozenset(COUNTER_OF_EVENT), counters_key, evolve_counters
)
