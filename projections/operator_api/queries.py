"""Reads of the read models for the operator API: SQL in, response schemas out.

Every value reaching SQL is a bind parameter that passed the API's validation (patterns, enums, bounded
numbers), so a bad request is refused before it can become a database error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeAlias

import asyncpg

from contracts.events import RecordedEvent
from contracts.intent import Service
from contracts.lead_events import LeadStatus
from eventstore import EventStore, PostgresEventStore
from orchestrator.domain.ids import CUSTOMER_STREAM_PREFIX
from projections.catalog import PROJECTIONS
from projections.lag import measure_all
from projections.operator_api import cursor as cursors
from projections.operator_api.schemas import (
    CapturedFields,
    ConversationOut,
    DailyOut,
    EventOut,
    LeadOut,
    LeadPage,
    MessageOut,
    ProjectionLagOut,
    ProviderOut,
    ProviderPage,
    StatsOut,
    TechnicianTotals,
)
from projections.readmodels.counters import COUNTER_NAMES

Pool: TypeAlias = "asyncpg.Pool[Any]"

_LEAD_COLUMNS = (
    "lead_id, customer_key, customer_phone, status, service, comuna, urgency, problem, address, consent, "
    "match_attempts, offered_to, provider_id, provider_name, provider_phone, rating, end_reason, created_at, "
    "submitted_at, offered_at, assigned_at, completed_at, rated_at, closed_at, updated_at"
)


def lead_out(row: asyncpg.Record) -> LeadOut:
    return LeadOut(
        lead_id=row["lead_id"], customer_id=row["customer_key"], customer_phone=row["customer_phone"],
        status=row["status"], service=row["service"], comuna=row["comuna"], urgency=row["urgency"],
        problem=row["problem"], address=row["address"], consent=row["consent"],
        match_attempts=row["match_attempts"], offered_to=row["offered_to"], technician_id=row["provider_id"],
        technician_name=row["provider_name"], technician_phone=row["provider_phone"], rating=row["rating"],
        end_reason=row["end_reason"], created_at=row["created_at"], submitted_at=row["submitted_at"],
        offered_at=row["offered_at"], assigned_at=row["assigned_at"], completed_at=row["completed_at"],
        rated_at=row["rated_at"], closed_at=row["closed_at"], updated_at=row["updated_at"],
    )  # fmt: skip


@dataclass(frozen=True)
class LeadFilters:
    status: LeadStatus | None = None
    service: Service | None = None
    comuna: str | None = None
    customer: str | None = None
    phone: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


class _Where:
    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.args: list[Any] = []

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, condition: str) -> None:
        self.conditions.append(condition)

    @property
    def sql(self) -> str:
        return f"WHERE {' AND '.join(self.conditions)}" if self.conditions else ""


async def list_leads(pool: Pool, filters: LeadFilters, after: tuple[datetime, str] | None, limit: int) -> LeadPage:
    where = _Where()
    if filters.status is not None:
        where.add(f"status = {where.arg(filters.status.value)}")
    if filters.service is not None:
        where.add(f"service = {where.arg(filters.service.value)}")
    if filters.comuna is not None:
        where.add(f"comuna = {where.arg(filters.comuna)}")
    if filters.customer is not None:
        where.add(f"customer_key = {where.arg(filters.customer)}")
    if filters.phone is not None:
        where.add(f"customer_phone = {where.arg(filters.phone)}")
    if filters.created_from is not None:
        where.add(f"created_at >= {where.arg(filters.created_from)}")
    if filters.created_to is not None:
        where.add(f"created_at < {where.arg(filters.created_to)}")
    if after is not None:
        where.add(f"(created_at, lead_id) < ({where.arg(after[0])}::timestamptz, {where.arg(after[1])})")
    sql = (
        f"SELECT {_LEAD_COLUMNS} FROM read_models.leads {where.sql} "
        f"ORDER BY created_at DESC, lead_id DESC LIMIT {where.arg(limit + 1)}"
    )
    rows = await pool.fetch(sql, *where.args)
    items = [lead_out(row) for row in rows[:limit]]
    more = len(rows) > limit
    next_cursor = cursors.lead_cursor(items[-1].created_at, items[-1].lead_id) if more else None
    return LeadPage(items=items, next_cursor=next_cursor)


async def get_lead(pool: Pool, lead_id: str) -> LeadOut | None:
    row = await pool.fetchrow(f"SELECT {_LEAD_COLUMNS} FROM read_models.leads WHERE lead_id = $1", lead_id)
    return lead_out(row) if row is not None else None


async def get_conversation(pool: Pool, customer_key: str) -> ConversationOut | None:
    row = await pool.fetchrow("SELECT * FROM read_models.conversations WHERE customer_key = $1", customer_key)
    if row is None:
        return None
    lead = await get_lead(pool, row["current_lead_id"]) if row["current_lead_id"] else None
    return ConversationOut(
        customer_id=customer_key,
        stream_id=f"{CUSTOMER_STREAM_PREFIX}{customer_key}",
        phone=row["phone"],
        profile_name=row["profile_name"],
        state=row["state"],
        pending_question=row["pending_question"],
        fields=CapturedFields.model_validate(row["fields"]),
        current_lead=lead,
        leads_started=row["leads_started"],
        messages_in=row["messages_in"],
        messages_out=row["messages_out"],
        recent_messages=[MessageOut.model_validate(m) for m in row["recent_messages"]],
        started_at=row["started_at"],
        last_message_at=row["last_message_at"],
        updated_at=row["updated_at"],
    )


async def delivery_statuses(store: EventStore, streams: list[str], wamids: list[str]) -> list[RecordedEvent]:
    """The statuses of these wamids on these deliveries streams, in global order."""
    wanted = set(wamids)
    found = await store.read_streams(streams, types=["ReplyDeliveryUpdated"])
    statuses = [event for events in found.values() for event in events if event.data.get("wamid") in wanted]
    return sorted(statuses, key=lambda event: event.global_position)


def event_out(event: RecordedEvent) -> EventOut:
    return EventOut(
        event_id=event.event_id, stream_id=event.stream_id, stream_version=event.stream_version,
        global_position=event.global_position, type=event.type, schema_version=event.schema_version,
        data=event.data, metadata=event.metadata.model_dump(mode="json"),
    )  # fmt: skip


# ------------------------------------------------------------------------------------- technicians

_PROVIDER_COLUMNS = (
    "provider_id, name, phone, services, comunas, capacity, active, active_jobs, active_leads, pending_offers, "
    "rating_avg, rating_count, last_assigned_at, jobs_completed, registered_at, updated_at"
)


def provider_out(row: asyncpg.Record) -> ProviderOut:
    return ProviderOut.model_validate(dict(row))


async def list_providers(
    pool: Pool,
    *,
    service: Service | None,
    comuna: str | None,
    active: bool | None,
    after: str | None,
    limit: int,
) -> ProviderPage:
    where = _Where()
    if service is not None:
        where.add(f"services ? {where.arg(service.value)}")
    if comuna is not None:
        where.add(f"comunas ? {where.arg(comuna)}")
    if active is not None:
        where.add(f"active = {where.arg(active)}")
    if after is not None:
        where.add(f"provider_id > {where.arg(after)}")
    sql = (
        f"SELECT {_PROVIDER_COLUMNS} FROM read_models.technicians {where.sql} "
        f"ORDER BY provider_id LIMIT {where.arg(limit + 1)}"
    )
    rows = await pool.fetch(sql, *where.args)
    items = [provider_out(row) for row in rows[:limit]]
    next_cursor = cursors.provider_cursor(items[-1].provider_id) if len(rows) > limit else None
    return ProviderPage(items=items, next_cursor=next_cursor)


async def get_provider(pool: Pool, provider_id: str) -> ProviderOut | None:
    row = await pool.fetchrow(
        f"SELECT {_PROVIDER_COLUMNS} FROM read_models.technicians WHERE provider_id = $1", provider_id
    )
    return provider_out(row) if row is not None else None


# ------------------------------------------------------------------------------------------- stats


async def _counts(pool: Pool, sql: str) -> dict[str, int]:
    return {row[0]: row[1] for row in await pool.fetch(sql)}


async def stats(store: PostgresEventStore, *, today: date, days: int) -> StatsOut:
    pool = store.pool
    technicians = await pool.fetchrow(
        "SELECT count(*), count(*) FILTER (WHERE active), coalesce(sum(active_jobs), 0), "
        "coalesce(sum(capacity) FILTER (WHERE active), 0) FROM read_models.technicians"
    )
    assert technicians is not None
    daily = await pool.fetch(
        f"SELECT day, {', '.join(COUNTER_NAMES)} FROM read_models.daily_counters "
        "WHERE day > $1 AND day <= $2 ORDER BY day",
        today - timedelta(days=days), today,
    )  # fmt: skip
    lags = await measure_all(store, PROJECTIONS.values())
    return StatsOut(
        leads_by_status=await _counts(pool, "SELECT status, count(*) FROM read_models.leads GROUP BY status"),
        conversations_by_state=await _counts(
            pool, "SELECT state, count(*) FROM read_models.conversations GROUP BY state"
        ),
        technicians=TechnicianTotals(
            registered=technicians[0],
            active=technicians[1],
            active_jobs=technicians[2],
            capacity_active=technicians[3],
        ),
        replies_by_status=await _counts(
            pool, "SELECT status, count(*) FROM read_models.outbound_messages GROUP BY status"
        ),
        deliveries_by_status=await _counts(
            pool,
            "SELECT delivery_status, count(*) FROM read_models.outbound_with_delivery "
            "WHERE delivery_status IS NOT NULL GROUP BY delivery_status",
        ),
        daily=[DailyOut.model_validate(dict(row)) for row in daily],
        projections=[
            ProjectionLagOut(
                projection=lag.projection,
                events_behind=lag.events,
                seconds_behind=lag.seconds,
                checkpoint_position=lag.checkpoint_position,
            )
            for lag in lags
        ],
    )
