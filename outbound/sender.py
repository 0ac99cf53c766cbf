"""The outbound sender: follows the event store and turns each ``ReplyQueued`` into a WhatsApp API call.

Its facts go to a stream of its own per queuing stream (``outbound-<stream id>``), never into the
customer's decision stream, where they would compete with the orchestrator for versions. Per reply:

1. ``ReplySendAttempted`` is recorded *before* the Graph API call (inbox ``reply:<id>``: the inbox id the
   sender used for its outcome before attempts were recorded, so nothing recorded then is sent again);
2. the send carries ``biz_opaque_callback_data = reply:<id>``, which Meta echoes in every status webhook of
   that message (the orchestrator records it as ``ReplyDeliveryUpdated.reply_id``);
3. ``ReplySent`` (with Meta's wamid) or ``ReplyFailed`` is recorded (inbox ``reply:<id>:outcome``).

A sender killed between 2 and 3 finds, after a restart, an attempt without outcome. The Graph API has no
idempotency key, so it looks ahead in the store for a status naming the reply: one found settles it as sent
(``ReplySendSettled`` confirmed_by_status, then ``ReplySent`` with the status's wamid); none within the
window (``SENDER_UNCONFIRMED_RESEND_SECONDS`` after the attempt) and it is sent again as the next attempt
(``ReplySendSettled`` resent). The follower's checkpoint moves past a reply only once it and every reply
read before it are done, so a crash while waiting finds the reply again.

Replies are not sent batch by batch: each joins its recipient's lane as soon as it is read (in order per
recipient), so one slow send holds up nobody else. Attempts and outcomes recorded at the same moment share
one transaction (``eventstore.group_commit``): recorded before the call all the same. An outcome waits a
moment for company (``OUTCOME_PATIENCE``), so at a steady trickle it rides with the next attempt: about one
transaction per send instead of two. A crash in that moment leaves an attempt without outcome, settled as
any other (step 3).

No database transaction is held open while calling Meta: a long transaction would hold back every
gap-safe reader of the global order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

import structlog

from contracts.events import Event, RecordedEvent
from contracts.outbound import (
    OutboundMessage,
    ReplyDeliveryUpdated,
    ReplyFailed,
    ReplyQueued,
    ReplySendAttempted,
    ReplySendSettled,
    ReplySent,
    Settlement,
    reply_callback_data,
    sender_stream_id,
    to_graph_api_payload,
)
from contracts.personal import SUPPRESSED
from eventstore import (
    ANY_VERSION,
    AppendResult,
    Checkpoint,
    PostgresEventStore,
    Selection,
    load_checkpoint,
    save_checkpoint,
)
from eventstore.group_commit import GroupCommit
from infra import pipeline_metrics as metrics
from infra.telemetry import continuing
from orchestrator.decision_path import to_new_events
from orchestrator.domain.ids import event_ids_for
from outbound.progress import ReplyProgress, reply_progress
from outbound.rewording import Reworder, Rewording, recorded_message
from outbound.whatsapp_client import PermanentSendError, SendError, WhatsAppClient

log = structlog.get_logger("sender")

CONSUMER = "sender"
#: A batch gathers the replies committed in this window instead of one read per commit.
BATCH_WINDOW = 0.02
#: Replies to different people go out concurrently; one person's replies stay in order.
MAX_PARALLEL_SENDS = 64
#: Replies read and not yet done, at most: past it the sender reads no further until some are done.
MAX_IN_FLIGHT = 1024
#: An outcome waits up to this long for another record (the next reply's attempt, usually) to share its
#: transaction: nobody but read models waits for it, while an attempt goes at once (it precedes a send).
OUTCOME_PATIENCE = 0.1
#: The checkpoint is saved at most this often (a restart reads again what came after it: the inbox ids
#: make that re-reading send nothing twice).
SAVE_EVERY = 1.0
DEFAULT_UNCONFIRMED_RESEND_SECONDS = 60.0
_SCAN_BATCH = 500


def attempt_inbox_id(reply_id: UUID, attempt: int) -> str:
    return f"reply:{reply_id}" if attempt == 1 else f"reply:{reply_id}#{attempt}"


def outcome_inbox_id(reply_id: UUID) -> str:
    return f"reply:{reply_id}:outcome"


class StatusLookout:
    """Reads the global order ahead of the follower for a delivery status naming one reply."""

    def __init__(self, store: PostgresEventStore, after: Checkpoint, reply_id: UUID) -> None:
        self._store = store
        self._after = after
        self._reply_id = str(reply_id)
        #: Whether the last look read everything committed when it began (nothing left behind an open
        #: transaction either).
        self.caught_up = False

    async def look(self) -> ReplyDeliveryUpdated | None:
        while True:
            batch = await self._store.read_all(self._after, _SCAN_BATCH)
            for recorded in batch:
                # Compared on the stored JSON: decoding every event read ahead would be wasted work.
                if recorded.type == ReplyDeliveryUpdated.TYPE and recorded.data.get("reply_id") == self._reply_id:
                    status = recorded.to_event()
                    assert isinstance(status, ReplyDeliveryUpdated)
                    return status
            if batch:
                self._after = Checkpoint.of(batch[-1])
            if len(batch) < _SCAN_BATCH:
                break
        self.caught_up = not await self._store.has_pending(self._after)
        return None


@dataclass(eq=False)
class _Batch:
    """One batch read from the global order, until every reply in it is done."""

    #: Where it starts: statuses of its replies can only come after this.
    start: Checkpoint
    end: Checkpoint
    remaining: int
    done: asyncio.Event = field(default_factory=asyncio.Event)


class ReplySender:
    def __init__(
        self,
        store: PostgresEventStore,
        client: WhatsAppClient,
        *,
        clock: Callable[[], datetime],
        unconfirmed_resend_seconds: float = DEFAULT_UNCONFIRMED_RESEND_SECONDS,
        reworder: Reworder | None = None,
    ) -> None:
        self._store = store
        self._client = client
        #: Asks the LLM adapter for a warmer wording (LLM_REPHRASE_ENABLED); None sends the texts as decided.
        self._reworder = reworder
        self._clock = clock
        self._window = timedelta(seconds=unconfirmed_resend_seconds)
        # How often an unconfirmed reply looks for its status again while the window runs.
        self._look_every = min(1.0, unconfirmed_resend_seconds / 20)
        self._parallel = asyncio.Semaphore(MAX_PARALLEL_SENDS)
        # Attempts and outcomes of replies in flight at the same moment share a transaction.
        self._records = GroupCommit(store, patience=OUTCOME_PATIENCE)
        #: Where the next batch starts (the end of the last one dispatched).
        self._position = Checkpoint.START
        #: Per recipient, the replies waiting their turn, each with the batch it came in.
        self._lanes: dict[str, deque[tuple[RecordedEvent, ReplyQueued, _Batch]]] = {}
        self._lane_tasks: set[asyncio.Task[None]] = set()
        #: Batches dispatched and not yet saved as done, oldest first.
        self._open: deque[_Batch] = deque()
        self._in_flight = 0
        self._progressed = asyncio.Event()
        self._batch_done = asyncio.Event()
        self._failure: BaseException | None = None

    async def run(self) -> None:
        """Follow the store from the stored checkpoint until cancelled.

        Batches are not waited for: each reply joins its recipient's lane as soon as it is read, so one
        slow send holds up only that recipient. The checkpoint moves past a batch once every reply of it
        and of the batches before it is done."""
        self._position = await load_checkpoint(self._store.pool, CONSUMER)
        # Only queued replies leave the database: the rest of the order is skipped there.
        following = self._store.follow(
            self._position, poll_interval=0.5, min_interval=BATCH_WINDOW, wake_on=[ReplyQueued.TYPE],
            only=Selection.of_types([ReplyQueued.TYPE]),
        )  # fmt: skip
        saver = asyncio.create_task(self._save_checkpoints(self._position), name="sender-checkpoint")
        try:
            async with contextlib.aclosing(following) as batches:
                async for batch in batches:
                    self._raise_if_failed()
                    self._dispatch(batch)
                    while self._in_flight >= MAX_IN_FLIGHT:  # back pressure: read on once sends drain
                        self._progressed.clear()
                        await self._progressed.wait()
                        self._raise_if_failed()
        finally:
            saver.cancel()
            for task in self._lane_tasks:
                task.cancel()
            await asyncio.gather(saver, *self._lane_tasks, return_exceptions=True)

    async def send_batch(self, events: Sequence[RecordedEvent]) -> None:
        """Send every reply queued in ``events`` (after the previous batch's), and wait until all are done."""
        if not events:
            return
        batch = self._dispatch(events)
        while not batch.done.is_set():
            self._progressed.clear()
            await self._progressed.wait()
            self._raise_if_failed()

    def _dispatch(self, events: Sequence[RecordedEvent]) -> _Batch:
        replies = []
        for recorded in events:
            if recorded.type == ReplyQueued.TYPE:
                reply = recorded.to_event()
                assert isinstance(reply, ReplyQueued)
                replies.append((recorded, reply))
        batch = _Batch(self._position, Checkpoint.of(events[-1]), len(replies))
        self._position = batch.end
        self._open.append(batch)
        if not replies:
            batch.done.set()
            self._batch_done.set()
        for recorded, reply in replies:
            self._in_flight += 1
            lane = self._lanes.get(reply.to)
            if lane is not None:
                lane.append((recorded, reply, batch))
                continue
            self._lanes[reply.to] = deque([(recorded, reply, batch)])
            task = asyncio.create_task(self._run_lane(reply.to))
            self._lane_tasks.add(task)
            task.add_done_callback(self._lane_ended)
        return batch

    async def _run_lane(self, recipient: str) -> None:
        lane = self._lanes[recipient]
        try:
            while lane:
                recorded, reply, batch = lane[0]
                # The decision that queued the reply recorded its span: the send continues that trace.
                metadata = recorded.metadata
                stream_id = sender_stream_id(recorded.stream_id)
                with (
                    continuing(metadata.trace_id, metadata.span_id, "reply send", purpose=reply.purpose),
                    metrics.STEP_SECONDS.labels("send").time(),
                ):
                    # Asked before taking a send slot: a slow model holds up this recipient only.
                    rewording = await self._reword(stream_id, reply)
                    async with self._parallel:
                        await self._send_one(stream_id, reply, batch.start, rewording)
                lane.popleft()
                self._in_flight -= 1
                batch.remaining -= 1
                if batch.remaining == 0:
                    batch.done.set()
                    self._batch_done.set()
                self._progressed.set()
        finally:
            if not lane:
                del self._lanes[recipient]

    def _lane_ended(self, task: asyncio.Task[None]) -> None:
        self._lane_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()
            self._progressed.set()

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def _save_checkpoints(self, saved: Checkpoint) -> None:
        """Saves the end of the last batch done with every batch before it, at most every SAVE_EVERY."""
        while True:
            await self._batch_done.wait()
            self._batch_done.clear()
            done = None
            while self._open and self._open[0].done.is_set():
                done = self._open.popleft().end
            if done is not None and done > saved:
                async with self._store.pool.acquire() as conn:
                    await save_checkpoint(conn, CONSUMER, done)
                saved = done
            await asyncio.sleep(SAVE_EVERY)

    async def _reword(self, stream_id: str, reply: ReplyQueued) -> Rewording | None:
        if self._reworder is None or not self._reworder.wants(reply):
            return None
        return await self._reworder.reword(stream_id, reply)

    async def _send_one(
        self, stream_id: str, reply: ReplyQueued, batch_start: Checkpoint, rewording: Rewording | None = None
    ) -> None:
        message = reply.message if rewording is None else rewording.message
        # The rewording is recorded with the attempt, before the call: both texts, and which one goes.
        records = [] if rewording is None else [rewording.record]
        first = ReplySendAttempted(reply_id=reply.reply_id, attempt=1, attempted_at=self._clock())
        recorded = await self._record(stream_id, [*records, first], attempt_inbox_id(reply.reply_id, 1))
        if not recorded.already_handled:
            await self._send_and_record(stream_id, reply, message)
            return
        # Seen before: recorded already, or attempted by a sender that stopped before recording the outcome.
        events = _decoded(await self._store.read_stream(stream_id), reply.reply_id)
        progress = reply_progress(events, reply.reply_id)
        # No attempt on our stream: the outcome was recorded on the queuing stream, before attempts were.
        if progress.unconfirmed:
            await self._settle_unconfirmed(stream_id, reply, progress, batch_start, recorded_message(events, reply))

    async def _settle_unconfirmed(
        self,
        stream_id: str,
        reply: ReplyQueued,
        progress: ReplyProgress,
        batch_start: Checkpoint,
        message: OutboundMessage,
    ) -> None:
        reply_id = reply.reply_id
        log.info("reply_unconfirmed", reply_id=str(reply_id), attempt=progress.attempts)
        lookout = StatusLookout(self._store, batch_start, reply_id)
        while True:
            looked_at = self._clock()
            status = await lookout.look()
            if status is not None:
                settled = ReplySendSettled(
                    reply_id=reply_id, attempt=progress.attempts, settled_by=Settlement.CONFIRMED_BY_STATUS,
                    settled_at=self._clock(), wamid=status.wamid, status=status.status,
                )  # fmt: skip
                assert progress.last_attempted_at is not None  # unconfirmed means attempted
                sent = ReplySent(reply_id=reply_id, wamid=status.wamid, sent_at=progress.last_attempted_at)
                await self._record(stream_id, [settled, sent], outcome_inbox_id(reply_id))
                log.info("reply_confirmed_by_status", reply_id=str(reply_id), wamid=status.wamid)
                return
            if lookout.caught_up and progress.resend_due(looked_at, self._window):
                break
            await asyncio.sleep(self._look_every)
        attempt = progress.attempts + 1
        resent = ReplySendSettled(
            reply_id=reply_id, attempt=progress.attempts, settled_by=Settlement.RESENT, settled_at=looked_at
        )
        again = ReplySendAttempted(reply_id=reply_id, attempt=attempt, attempted_at=self._clock())
        recorded = await self._record(stream_id, [resent, again], attempt_inbox_id(reply_id, attempt))
        if recorded.already_handled:
            return  # another sender settled it first
        log.warning("reply_resent_unconfirmed", reply_id=str(reply_id), attempt=attempt)
        await self._send_and_record(stream_id, reply, message)

    async def _send_and_record(self, stream_id: str, reply: ReplyQueued, message: OutboundMessage) -> None:
        outcome: ReplySent | ReplyFailed
        if reply.to == SUPPRESSED:  # the recipient was forgotten before the send: nobody to send it to
            outcome = ReplyFailed(reply_id=reply.reply_id, failed_at=self._clock(), permanent=True,
                                  reason="the recipient's data was erased before this reply was sent")  # fmt: skip
            metrics.REPLIES.labels("failed").inc()
            log.warning("reply_recipient_forgotten", reply_id=str(reply.reply_id), purpose=reply.purpose)
            await self._record(stream_id, [outcome], outcome_inbox_id(reply.reply_id), patient=True)
            return
        payload = to_graph_api_payload(message, reply.to, callback_data=reply_callback_data(reply.reply_id))
        try:
            sent = await self._client.send(payload)
        except SendError as error:
            outcome = ReplyFailed(
                reply_id=reply.reply_id,
                failed_at=self._clock(),
                error_code=error.code,
                http_status=error.http_status,
                reason=error.reason[:500],
                permanent=isinstance(error, PermanentSendError),
                attempts=error.attempts,
            )
            metrics.REPLIES.labels("failed").inc()
            metrics.REPLY_FAILURES.labels(str(error.code), str(isinstance(error, PermanentSendError)).lower()).inc()
            log.warning("reply_failed", reply_id=str(reply.reply_id), purpose=reply.purpose, code=error.code)
        else:
            outcome = ReplySent(
                reply_id=reply.reply_id, wamid=sent.wamid, sent_at=self._clock(), attempts=sent.attempts,
                reworded=message is not reply.message,
            )  # fmt: skip
            metrics.REPLIES.labels("sent").inc()
            log.info("reply_sent", reply_id=str(reply.reply_id), purpose=reply.purpose, wamid=sent.wamid)
        await self._record(stream_id, [outcome], outcome_inbox_id(reply.reply_id), patient=True)

    async def _record(
        self, stream_id: str, events: Sequence[Event], inbox_id: str, *, patient: bool = False
    ) -> AppendResult:
        # Event ids from the inbox id: a record repeated after a crash reproduces them.
        new_events = to_new_events(events, cause=inbox_id, now=self._clock(), ids=event_ids_for(f"sender/{inbox_id}"))
        records = self._records.patiently if patient else self._records
        return await records.append(stream_id, ANY_VERSION, new_events, inbox_id)


def _decoded(events: Sequence[RecordedEvent], reply_id: UUID) -> list[Event]:
    """The events of the sender's stream about ``reply_id``, decoded (the others are left as they are)."""
    wanted = str(reply_id)
    return [recorded.to_event() for recorded in events if recorded.data.get("reply_id") == wanted]
