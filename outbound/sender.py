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
(``ReplySendSettled`` resent). The follower's checkpoint is saved only after a batch is done, so a crash
while waiting finds the reply again.

No database transaction is held open while calling Meta: a long transaction would hold back every
gap-safe reader of the global order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from uuid import UUID

import structlog

from contracts.events import Event, RecordedEvent
from contracts.outbound import (
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
from eventstore import ANY_VERSION, AppendResult, Checkpoint, PostgresEventStore, load_checkpoint, save_checkpoint
from infra import pipeline_metrics as metrics
from infra.telemetry import continuing
from orchestrator.decision_path import to_new_events
from orchestrator.domain.ids import event_ids_for
from outbound.progress import ReplyProgress, reply_progress
from outbound.whatsapp_client import PermanentSendError, SendError, WhatsAppClient

log = structlog.get_logger("sender")

CONSUMER = "sender"
#: A batch gathers the replies committed in this window instead of one read per commit.
BATCH_WINDOW = 0.02
#: Replies to different people go out concurrently; one person's replies stay in order.
MAX_PARALLEL_RECIPIENTS = 32
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


class ReplySender:
    def __init__(
        self,
        store: PostgresEventStore,
        client: WhatsAppClient,
        *,
        clock: Callable[[], datetime],
        unconfirmed_resend_seconds: float = DEFAULT_UNCONFIRMED_RESEND_SECONDS,
    ) -> None:
        self._store = store
        self._client = client
        self._clock = clock
        self._window = timedelta(seconds=unconfirmed_resend_seconds)
        # How often an unconfirmed reply looks for its status again while the window runs.
        self._look_every = min(1.0, unconfirmed_resend_seconds / 20)
        self._parallel = asyncio.Semaphore(MAX_PARALLEL_RECIPIENTS)
        #: Where the batch being sent starts: statuses of its replies can only come after it.
        self._position = Checkpoint.START

    async def run(self) -> None:
        """Follow the store from the stored checkpoint until cancelled."""
        self._position = await load_checkpoint(self._store.pool, CONSUMER)
        following = self._store.follow(
            self._position, poll_interval=0.5, min_interval=BATCH_WINDOW, wake_on=[ReplyQueued.TYPE]
        )
        async with contextlib.aclosing(following) as batches:
            async for batch in batches:
                await self.send_batch(batch)
                self._position = Checkpoint.of(batch[-1])
                async with self._store.pool.acquire() as conn:
                    await save_checkpoint(conn, CONSUMER, self._position)

    async def send_batch(self, events: Sequence[RecordedEvent]) -> None:
        by_recipient: dict[str, list[tuple[RecordedEvent, ReplyQueued]]] = defaultdict(list)
        for recorded in events:
            if recorded.type == ReplyQueued.TYPE:
                reply = recorded.to_event()
                assert isinstance(reply, ReplyQueued)
                by_recipient[reply.to].append((recorded, reply))
        await asyncio.gather(*(self._send_in_order(replies) for replies in by_recipient.values()))

    async def _send_in_order(self, replies: list[tuple[RecordedEvent, ReplyQueued]]) -> None:
        async with self._parallel:
            for recorded, reply in replies:
                # The decision that queued the reply recorded its span: the send continues that trace.
                metadata = recorded.metadata
                with (
                    continuing(metadata.trace_id, metadata.span_id, "reply send", purpose=reply.purpose),
                    metrics.STEP_SECONDS.labels("send").time(),
                ):
                    await self._send_one(sender_stream_id(recorded.stream_id), reply)

    async def _send_one(self, stream_id: str, reply: ReplyQueued) -> None:
        first = ReplySendAttempted(reply_id=reply.reply_id, attempt=1, attempted_at=self._clock())
        recorded = await self._record(stream_id, [first], attempt_inbox_id(reply.reply_id, 1))
        if not recorded.already_handled:
            await self._send_and_record(stream_id, reply)
            return
        # Seen before: recorded already, or attempted by a sender that stopped before recording the outcome.
        progress = reply_progress(_decoded(await self._store.read_stream(stream_id), reply.reply_id), reply.reply_id)
        # No attempt on our stream: the outcome was recorded on the queuing stream, before attempts were.
        if progress.unconfirmed:
            await self._settle_unconfirmed(stream_id, reply, progress)

    async def _settle_unconfirmed(self, stream_id: str, reply: ReplyQueued, progress: ReplyProgress) -> None:
        reply_id = reply.reply_id
        log.info("reply_unconfirmed", reply_id=str(reply_id), attempt=progress.attempts)
        lookout = StatusLookout(self._store, self._position, reply_id)
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
        await self._send_and_record(stream_id, reply)

    async def _send_and_record(self, stream_id: str, reply: ReplyQueued) -> None:
        payload = to_graph_api_payload(reply.message, reply.to, callback_data=reply_callback_data(reply.reply_id))
        outcome: ReplySent | ReplyFailed
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
                reply_id=reply.reply_id, wamid=sent.wamid, sent_at=self._clock(), attempts=sent.attempts
            )
            metrics.REPLIES.labels("sent").inc()
            log.info("reply_sent", reply_id=str(reply.reply_id), purpose=reply.purpose, wamid=sent.wamid)
        await self._record(stream_id, [outcome], outcome_inbox_id(reply.reply_id))

    async def _record(self, stream_id: str, events: Sequence[Event], inbox_id: str) -> AppendResult:
        # Event ids from the inbox id: a record repeated after a crash reproduces them.
        new_events = to_new_events(events, cause=inbox_id, now=self._clock(), ids=event_ids_for(f"sender/{inbox_id}"))
        return await self._store.append(stream_id, ANY_VERSION, new_events, inbox_id=inbox_id)


def _decoded(events: Sequence[RecordedEvent], reply_id: UUID) -> list[Event]:
    """The events of the sender's stream about ``reply_id``, decoded (the others are left as they are)."""
    wanted = str(reply_id)
    return [recorded.to_event() for recorded in events if recorded.data.get("reply_id") == wanted]
