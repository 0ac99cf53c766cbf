"""The ``closer_timers`` table (``closer/sql``): the running timers, their due times, whether published.

Every function runs on the caller's connection, so the index changes commit with the closer's checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from closer.deadlines import Deadline, TraceIds
from closer.forget_jobs import ForgetPerson, is_job_record, job_from_record, job_record
from contracts.commands import TimerCommand, command_from_record, command_record
from eventstore.pool import AnyConnection

CLOSER_SQL_DIR = Path(__file__).parent / "sql"

_FORGET = "DELETE FROM closer_timers WHERE stream_id = ANY($1::text[]) AND NOT (command_id = ANY($2::text[]))"

# A recomputed timer keeps its published mark; its due time follows the current durations.
_UPSERT = """
INSERT INTO closer_timers (command_id, stream_id, kind, lead_id, due_at, command, trace_id, span_id)
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::jsonb[], $7::text[], $8::text[]
)
ON CONFLICT (command_id) DO UPDATE
SET due_at = excluded.due_at, command = excluded.command, trace_id = excluded.trace_id, span_id = excluded.span_id
"""

# Timer commands and erasure jobs (kinds ``forget-…``) are limited apart, in one round trip: a backlog of
# erasures (each runs on its own) never holds up the commands, nor the other way round.
_DUE = """
(SELECT command, trace_id, span_id FROM closer_timers
 WHERE published_at IS NULL AND due_at <= $1 AND kind NOT LIKE 'forget-%'
 ORDER BY due_at, command_id LIMIT $2)
UNION ALL
(SELECT command, trace_id, span_id FROM closer_timers
 WHERE published_at IS NULL AND due_at <= $1 AND kind LIKE 'forget-%'
 ORDER BY due_at, command_id LIMIT $3)
"""

_MARK_PUBLISHED = "UPDATE closer_timers SET published_at = $2 WHERE command_id = ANY($1::text[])"


@dataclass(frozen=True, slots=True)
class DueTimer:
    #: A command to publish, or an erasure the closer runs itself.
    command: TimerCommand | ForgetPerson
    #: The traced decision that set the timer, if any.
    set_by: TraceIds | None = None


def _record(command: TimerCommand | ForgetPerson) -> dict[str, Any]:
    return job_record(command) if isinstance(command, ForgetPerson) else command_record(command)


def _from_record(record: Mapping[str, Any]) -> TimerCommand | ForgetPerson:
    return job_from_record(record) if is_job_record(record) else command_from_record(record)


@dataclass(frozen=True, slots=True)
class StreamTimers:
    stream_id: str
    deadlines: Sequence[Deadline]


async def replace_timers(conn: AnyConnection, timers: Sequence[StreamTimers]) -> None:
    """Make the index hold exactly ``timers`` for these streams."""
    if not timers:
        return
    deadlines = [deadline for stream in timers for deadline in stream.deadlines]
    await conn.execute(_FORGET, [stream.stream_id for stream in timers], [d.command_id for d in deadlines])
    if not deadlines:
        return
    owner = {d.command_id: stream.stream_id for stream in timers for d in stream.deadlines}
    await conn.execute(
        _UPSERT,
        [d.command_id for d in deadlines],
        [owner[d.command_id] for d in deadlines],
        [d.kind.value for d in deadlines],
        [d.command.lead_id for d in deadlines],
        [d.due_at for d in deadlines],
        [_record(d.command) for d in deadlines],
        [d.set_by.trace_id if d.set_by else None for d in deadlines],
        [d.set_by.span_id if d.set_by else None for d in deadlines],
    )


async def due_timers(conn: AnyConnection | Any, now: datetime, limit: int, jobs_limit: int = 0) -> list[DueTimer]:
    """Timers due at ``now`` and not published yet, oldest first: up to ``limit`` commands, then up to
    ``jobs_limit`` erasure jobs."""
    return [
        DueTimer(_from_record(command), TraceIds(trace_id, span_id) if trace_id and span_id else None)
        for command, trace_id, span_id in await conn.fetch(_DUE, now, limit, jobs_limit)
    ]


async def mark_published(conn: AnyConnection | Any, command_ids: Sequence[str], at: datetime) -> None:
    if command_ids:
        await conn.execute(_MARK_PUBLISHED, list(command_ids), at)
