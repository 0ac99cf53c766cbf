"""The closer: follows the store to keep the timers index, and on every tick publishes what fell due.

Two loops, both restart-safe:

* **index** — a durable consumer of the global order (checkpoint ``closer``). For each batch it re-reads
  the customer streams the batch touched, recomputes their deadlines (``closer.deadlines``) and replaces
  their rows in ``closer_timers``, in the same transaction that stores the checkpoint. After a crash the
  batch is simply indexed again.
* **tick** — every ``tick_seconds``, the timers due at ``clock()`` and not yet published go to JetStream
  (``conectapro.commands.p<n>``, ``Nats-Msg-Id`` = command id) and are marked published once acknowledged.
  A crash between the two publishes them again: JetStream drops the duplicate within its window, and the
  orchestrator's inbox (``inbox_id`` = command id) drops it after that. Each command continues the trace
  of the decision that set its timer (``traceparent`` in its headers).

The closer never appends to a customer's stream: the orchestrator decides every command
(``orchestrator.commands_consumer``). The tick also runs the erasure jobs that fell due (a customer's
confirmed request, retention: ``closer.forgetting``), whose outcome is a ``PersonForgotten`` on
``privacy-requests``; each is marked done like a published timer. They run beside the ticks (an erasure
scans JetStream), so a command never waits for one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

import asyncpg
import nats.errors
import structlog
from nats.js import JetStreamContext
from opentelemetry.trace import SpanKind

from closer.deadlines import Deadline, TimerDurations
from closer.forget_jobs import ForgetPerson
from closer.forgetting import Forgetter
from closer.stream_folds import StreamFolds
from closer.timers import DueTimer, StreamTimers, due_timers, mark_published, replace_timers
from contracts.events import RecordedEvent
from contracts.subjects import commands_subject
from eventstore import Checkpoint, PostgresEventStore, Selection, load_checkpoint, save_checkpoint
from eventstore.pool import AnyConnection
from eventstore.waiting import wait_event
from infra.pipeline_metrics import STEP_SECONDS, TIMER_COMMANDS
from infra.telemetry import background, continuing, inject_context
from orchestrator.commands_consumer import command_headers, encode_command
from orchestrator.domain.ids import CUSTOMER_STREAM_PREFIX, customer_stream_id
from orchestrator.domain.states import IllegalTransition

log = structlog.get_logger("closer")

CONSUMER = "closer"
#: Commands published per tick at most (the rest wait for the next tick, oldest first).
MAX_PER_TICK = 1000
#: The timer index reads the global order at most this often (timers run in minutes): one read, one
#: transaction for every commit of the window instead of one per commit.
INDEX_WINDOW = 1.0
#: JetStream publishes in flight at once during a tick.
MAX_IN_FLIGHT = 64
#: Erasure jobs started per tick at most (fetched apart from the commands, run beside the ticks).
MAX_JOBS_PER_TICK = 20


class CommandPublisher(Protocol):
    async def publish(self, timer: DueTimer) -> bool:
        """Publish ``timer``'s command; True once JetStream acknowledged it (also when it was a duplicate)."""
        ...


class JetStreamCommandPublisher:
    def __init__(self, js: JetStreamContext, *, partitions: int, timeout: float = 5.0) -> None:
        self._js = js
        self._partitions = partitions
        self._timeout = timeout

    async def publish(self, timer: DueTimer) -> bool:
        command = timer.command
        if isinstance(command, ForgetPerson):
            raise TypeError("an erasure job is run by the closer, never published")
        subject = commands_subject(command.customer_key, self._partitions)
        trace_id, span_id = (timer.set_by.trace_id, timer.set_by.span_id) if timer.set_by else (None, None)
        name = f"{subject} publish"
        try:
            with continuing(trace_id, span_id, name, kind=SpanKind.PRODUCER, timer=type(command).__name__):
                headers = inject_context(command_headers(command))
                ack = await self._js.publish(subject, encode_command(command), headers=headers, timeout=self._timeout)
        except (nats.errors.Error, TimeoutError) as error:
            TIMER_COMMANDS.labels("failed").inc()
            log.warning("command_publish_failed", id=command.command_id, error=repr(error))
            return False
        TIMER_COMMANDS.labels("duplicate" if ack.duplicate else "published").inc()
        if ack.duplicate:
            log.info("command_already_published", id=command.command_id)
        return True


class Closer:
    def __init__(
        self,
        store: PostgresEventStore,
        publisher: CommandPublisher,
        durations: TimerDurations,
        *,
        clock: Callable[[], datetime],
        batch_size: int = 500,
        forgetter: Forgetter | None = None,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._durations = durations
        self._clock = clock
        self._batch_size = batch_size
        #: Runs the erasure jobs (none: they wait, e.g. a closer built without JetStream in a test).
        self._forgetter = forgetter
        self._erasing: asyncio.Task[list[str]] | None = None
        #: The customer streams folded lately: a batch folds only their new events.
        self._folds = StreamFolds(durations)

    def forget_person(self, person_key: str | None) -> None:
        """Drop what the closer keeps of a forgotten person (erased here, by the CLI or by the admin API)."""
        self._folds.forget_person(person_key)

    # ------------------------------------------------------------------------------------------ index

    async def index_batch(self, conn: AnyConnection, events: Sequence[RecordedEvent]) -> None:
        """Recompute the timers of every customer stream in ``events`` (a subscription handler)."""
        touched: dict[str, list[RecordedEvent]] = {}
        for event in events:
            if event.stream_id.startswith(CUSTOMER_STREAM_PREFIX):
                touched.setdefault(event.stream_id, []).append(event)
        if not touched:
            return
        with STEP_SECONDS.labels("timer_index").time():
            found: dict[str, list[Deadline]] = {}
            unknown = []
            for sid, new in touched.items():
                try:
                    fold = self._folds.advanced(sid, new)
                except IllegalTransition as error:
                    found[sid] = self._unreadable(sid, error)
                    continue
                if fold is None:
                    unknown.append(sid)
                else:
                    found[sid] = fold.deadlines(self._durations)
            streams = await self._store.read_streams(unknown, connection=conn) if unknown else {}
            for sid in unknown:
                try:
                    found[sid] = self._folds.fold(sid, streams.get(sid, [])).deadlines(self._durations)
                except IllegalTransition as error:
                    found[sid] = self._unreadable(sid, error)
            await replace_timers(conn, [StreamTimers(sid, found[sid]) for sid in sorted(touched)])

    def _unreadable(self, stream_id: str, error: IllegalTransition) -> list[Deadline]:
        # A stream the domain cannot fold has no trustworthy deadline; `conectapro audit` reports it.
        self._folds.forget(stream_id)
        log.error("closer_stream_unreadable", stream=stream_id, error=str(error))
        return []

    async def catch_up(self) -> int:
        """Index everything committed so far; returns how many events were read (tests, start-up)."""
        pool = self._store.pool
        checkpoint = await load_checkpoint(pool, CONSUMER)
        read = 0
        while batch := await self._store.read_all(checkpoint, self._batch_size):
            new = Checkpoint.of(batch[-1])
            async with pool.acquire() as conn, conn.transaction():
                await self.index_batch(conn, batch)
                await save_checkpoint(conn, CONSUMER, new, expected=checkpoint)
            checkpoint, read = new, read + len(batch)
        return read

    # ------------------------------------------------------------------------------------------- tick

    async def tick(self, now: datetime | None = None, *, wait_for_erasures: bool = True) -> list[str]:
        """Publish the timers due at ``now`` (default: the clock) and run the erasures due; returns the command
        ids published and the erasure jobs done. The service's loop does not wait for the erasures (one may
        scan JetStream for minutes): they run beside the ticks, and no new ones start until they end."""
        at = now if now is not None else self._clock()
        with STEP_SECONDS.labels("timer_tick").time():
            return await self._publish_due(at, wait_for_erasures)

    async def _publish_due(self, at: datetime, wait_for_erasures: bool) -> list[str]:
        erasing = self._erasing is not None and not self._erasing.done()
        due = await due_timers(self._store.pool, at, MAX_PER_TICK, 0 if erasing else MAX_JOBS_PER_TICK)
        if not due:
            return []
        commands = [timer for timer in due if not isinstance(timer.command, ForgetPerson)]
        in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)

        async def publish(timer: DueTimer) -> bool:
            async with in_flight:
                return await self._publisher.publish(timer)

        acked = await asyncio.gather(*(publish(timer) for timer in commands))
        published = [timer.command.command_id for timer, ok in zip(commands, acked, strict=True) if ok]
        await mark_published(self._store.pool, published, at)
        log.info("closer_tick", due=len(due), published=len(published))
        jobs = [timer.command for timer in due if isinstance(timer.command, ForgetPerson)]
        if not jobs or self._forgetter is None:
            return published
        if not wait_for_erasures:
            self._erasing = asyncio.create_task(self._run_jobs(self._forgetter, jobs, at), name="closer-erasures")
            return published
        return published + await self._run_jobs(self._forgetter, jobs, at)

    async def _run_jobs(self, forgetter: Forgetter, jobs: Sequence[ForgetPerson], at: datetime) -> list[str]:
        """Run the erasure jobs one at a time, each marked done as it ends; one failing waits for a tick."""
        done = []
        for job in jobs:
            try:
                if await forgetter.run(job, at):
                    self._folds.forget(customer_stream_id(job.customer_key))  # its fields are gone
                    await mark_published(self._store.pool, [job.command_id], at)
                    done.append(job.command_id)
            except (asyncpg.PostgresError, OSError, nats.errors.Error, TimeoutError) as error:
                log.warning("person_erasure_failed", job=job.command_id, error=repr(error))
        if done:
            log.info("closer_erasures", due=len(jobs), done=len(done))
        return done

    # -------------------------------------------------------------------------------------------- run

    async def run(self, stopping: asyncio.Event, *, tick_seconds: float) -> None:
        """Index and tick until ``stopping`` is set."""
        with background():  # its queries belong to no message; each command's publish is traced on its own
            await self._run(stopping, tick_seconds)

    async def _run(self, stopping: asyncio.Event, tick_seconds: float) -> None:
        # Only customer streams have timers: the rest of the order is skipped in the database. No wake-ups: it
        # reads at most once per window anyway, so polling at that pace finds the same events without hearing
        # of every commit (this process then receives no announcement at all).
        subscription = self._store.subscribe(
            CONSUMER, self.index_batch, batch_size=self._batch_size, poll_interval=INDEX_WINDOW,
            min_interval=INDEX_WINDOW, listen=False, only=Selection(stream_prefix=CUSTOMER_STREAM_PREFIX),
        )  # fmt: skip
        indexing = asyncio.create_task(subscription.run(), name="closer-index")
        try:
            while not stopping.is_set():
                if indexing.done():
                    indexing.result()  # the index loop died: let the service fail loudly
                if self._erasing is not None and self._erasing.done():
                    self._erasing.result()  # so did an erasure, beyond the errors it retries
                try:
                    await self.tick(wait_for_erasures=False)
                except (asyncpg.PostgresError, OSError) as error:
                    log.warning("closer_tick_failed", error=repr(error))
                await wait_event(stopping, tick_seconds)
        finally:
            for task in (indexing, self._erasing):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
