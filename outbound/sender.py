"""The outbound sender: follows the event store and turns each ``ReplyQueued`` into a WhatsApp API call.

It records ``ReplySent`` (with Meta's wamid) or ``ReplyFailed`` (code, reason, permanent or not) on the
reply's own stream. The inbox id ``reply:<reply_id>`` makes that record happen once, and is checked before
sending, so a restart does not send again what was already recorded. (A crash between Meta accepting a
send and our record can still repeat that one message: the Graph API has no idempotency key.)

No database transaction is held open while calling Meta: a long transaction would hold back every
gap-safe reader of the global order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime

import structlog

from contracts.events import RecordedEvent
from contracts.outbound import ReplyFailed, ReplyQueued, ReplySent, to_graph_api_payload
from eventstore import ANY_VERSION, Checkpoint, PostgresEventStore, load_checkpoint, save_checkpoint
from infra import pipeline_metrics as metrics
from infra.telemetry import continuing
from orchestrator.decision_path import to_new_events
from orchestrator.domain.ids import event_ids_for
from outbound.whatsapp_client import PermanentSendError, SendError, WhatsAppClient

log = structlog.get_logger("sender")

CONSUMER = "sender"
#: A batch gathers the replies committed in this window instead of one read per commit.
BATCH_WINDOW = 0.02
#: Replies to different people go out concurrently; one person's replies stay in order.
MAX_PARALLEL_RECIPIENTS = 32


def reply_inbox_id(reply: ReplyQueued) -> str:
    return f"reply:{reply.reply_id}"


class ReplySender:
    def __init__(self, store: PostgresEventStore, client: WhatsAppClient, *, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._client = client
        self._clock = clock
        self._parallel = asyncio.Semaphore(MAX_PARALLEL_RECIPIENTS)

    async def run(self) -> None:
        """Follow the store from the stored checkpoint until cancelled."""
        checkpoint = await load_checkpoint(self._store.pool, CONSUMER)
        following = self._store.follow(
            checkpoint, poll_interval=0.5, min_interval=BATCH_WINDOW, wake_on=[ReplyQueued.TYPE]
        )
        async with contextlib.aclosing(following) as batches:
            async for batch in batches:
                await self.send_batch(batch)
                checkpoint = Checkpoint.of(batch[-1])
                async with self._store.pool.acquire() as conn:
                    await save_checkpoint(conn, CONSUMER, checkpoint)

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
                    await self._send_one(recorded.stream_id, reply)

    async def _send_one(self, stream_id: str, reply: ReplyQueued) -> None:
        inbox_id = reply_inbox_id(reply)
        if await self._store.is_handled(inbox_id):
            return
        payload = to_graph_api_payload(reply.message, reply.to)
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
        now = self._clock()
        events = to_new_events([outcome], cause=inbox_id, now=now, ids=event_ids_for(inbox_id))
        await self._store.append(stream_id, ANY_VERSION, events, inbox_id=inbox_id)
