"""Runs the erasure jobs that fell due (``closer.forget_jobs``) with ``conectapro.erasure.forget_person``:
the same erasure as ``conectapro privacy forget``, by person key, recorded as ``PersonForgotten``.

A job is done (its timer consumed) once the person is forgotten, or was before (nothing is recorded twice:
a closer stopped between the erasure and the timer's mark finds the key gone and only marks it). A
customer's own request waits for its goodbye's send to be recorded; a retention job checks again, on the
stream as it is now, that the customer did not come back since the index saw it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

import structlog
from nats.js import JetStreamContext

from closer.deadlines import TimerDurations, deadlines, timer_state
from closer.forget_jobs import REQUESTED_BY, ForgetPerson, ForgetReason
from conectapro.erasure import forget_person
from contracts.outbound import ReplyFailed, ReplySent, sender_stream_id
from contracts.subjects import DEADLETTER_STREAM
from eventstore import PostgresEventStore
from orchestrator.domain.ids import customer_stream_id
from privacy.jetstream_erasure import STREAMS
from privacy.setup import Privacy

log = structlog.get_logger("closer")

#: Past the last activity and INBOUND's max age, before its messages are surely gone (statuses come late).
MARGIN = timedelta(days=1)
#: The send of a reply is recorded by one of these on the sender's stream.
_SETTLED = frozenset({ReplySent.TYPE, ReplyFailed.TYPE})


class Forgetter(Protocol):
    async def run(self, job: ForgetPerson, now: datetime) -> bool:
        """Run ``job`` if it may run now; True once it is done (its timer is consumed), False to try later."""
        ...


class StoreForgetter:
    def __init__(
        self,
        store: PostgresEventStore,
        privacy: Privacy,
        js: JetStreamContext | None,
        durations: TimerDurations,
        *,
        clock: Callable[[], datetime],
        inbound_kept: timedelta | None = None,
    ) -> None:
        self._store = store
        self._privacy = privacy
        self._js = js
        self._durations = durations
        self._clock = clock
        # Retention runs long after ``INBOUND`` dropped a person's webhooks (its max age): only the dead
        # letters, kept until handled, are still worth the scan, which reads every message of a stream.
        retention = durations.retention
        expired = inbound_kept is not None and retention is not None and retention >= inbound_kept + MARGIN
        self._retention_streams = (DEADLETTER_STREAM,) if expired else STREAMS

    async def run(self, job: ForgetPerson, now: datetime) -> bool:
        if job.reason is ForgetReason.CUSTOMER_REQUEST:
            waiting = job.give_up_at is None or now < job.give_up_at
            if waiting and not await self._goodbye_sent(job):
                return False
        elif not await self._still_due(job, now):
            return True  # the customer came back: the index holds a new timer for them
        streams = self._retention_streams if job.reason is ForgetReason.RETENTION else STREAMS
        erasure = await forget_person(
            self._store, self._privacy, self._js, job.customer_key, requested_by=REQUESTED_BY[job.reason],
            now=self._clock, jetstream_streams=streams,
        )  # fmt: skip
        outcome = erasure.outcome.value if erasure is not None else "forgotten_before"
        log.info("person_erasure_run", reason=job.reason.value, outcome=outcome, job=job.command_id)
        return True

    async def _goodbye_sent(self, job: ForgetPerson) -> bool:
        outbound = await self._store.read_stream(sender_stream_id(customer_stream_id(job.customer_key)))
        goodbye = str(job.goodbye_reply_id)
        return any(e.type in _SETTLED and e.data.get("reply_id") == goodbye for e in outbound)

    async def _still_due(self, job: ForgetPerson, now: datetime) -> bool:
        events = await self._store.read_stream(customer_stream_id(job.customer_key))
        running = deadlines(timer_state(events), self._durations)
        return any(d.command_id == job.command_id and d.due_at <= now for d in running)
