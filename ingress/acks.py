"""JetStream's acknowledgements of the ingress's publishes, collected per request on one inbox.

A JetStream publish is a core NATS publish with a reply subject: the stream answers there once the message
is stored. nats-py's ``publish_async`` does the same, but per message it draws random bytes from the OS,
takes a semaphore through ``wait_for``, decodes the answer into a ``PubAck`` with the standard JSON and
wakes the caller through one future per message. Here a request's updates share one waiter, the reply
subjects are a counter under one inbox per connection, and an answer is read for the two facts the
ingress needs: stored (or refused, and why) and whether it was a duplicate.

A subscription with a callback hands each message from the connection's read loop to a task of its own
through a queue: one more wakeup per answer. The inbox's subscription has no callback, and its queue is
replaced by one that answers on arrival, from the read loop itself (``_AnswerOnArrival``). That queue is
nats-py's ``Subscription._pending_queue``: should a release rename it, the inbox falls back to a callback
(``AckInbox.on_arrival`` says which; a test pins it).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

#: The header a no-responders answer carries (no stream listens on the subject), and its value.
_STATUS_HEADER = "Status"
_NO_RESPONDERS = "503"


class AckRefused(Exception):
    """JetStream answered with an error (or nobody stores the subject): the update is not stored."""


class AckBatch:
    """The acknowledgements one request waits for: done when every one arrived, or at the first refusal."""

    __slots__ = ("duplicates", "future", "pending", "replies")

    def __init__(self, future: asyncio.Future[None]) -> None:
        self.future = future
        self.pending = 0
        self.duplicates = 0
        self.replies: list[str] = []

    def acknowledged(self, duplicate: bool) -> None:
        if duplicate:
            self.duplicates += 1
        self.pending -= 1
        if self.pending == 0 and not self.future.done():
            self.future.set_result(None)

    def refused(self, reason: str) -> None:
        if not self.future.done():
            self.future.set_exception(AckRefused(reason))


class _AnswerOnArrival(asyncio.Queue[Msg]):
    """A subscription's pending queue that handles each message as the read loop puts it."""

    def __init__(self, handle: Callable[[Msg], None]) -> None:
        super().__init__()
        self._handle = handle

    def put_nowait(self, item: Msg) -> None:
        self._handle(item)


class AckInbox:
    """One subscription for every acknowledgement this connection is owed; ``reply_for`` names where."""

    def __init__(self, nc: NATS) -> None:
        self._nc = nc
        self._prefix = ""
        self._counter = itertools.count()
        self._owed: dict[str, AckBatch] = {}
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        if self._subscription is not None:
            return
        self._prefix = self._nc.new_inbox() + "."
        # pending_bytes_limit=0: nothing is ever pending, the read loop's byte count must not refuse answers.
        subscription = await self._nc.subscribe(self._prefix + "*", pending_bytes_limit=0)
        if isinstance(getattr(subscription, "_pending_queue", None), asyncio.Queue):
            subscription._pending_queue = _AnswerOnArrival(self._on_answer)
        else:
            await subscription.unsubscribe()
            subscription = await self._nc.subscribe(self._prefix + "*", cb=self._on_answer_in_task)
        self._subscription = subscription

    @property
    def on_arrival(self) -> bool:
        """Whether answers are handled from the read loop itself (else by the subscription's task)."""
        return self._subscription is not None and isinstance(self._subscription._pending_queue, _AnswerOnArrival)

    def reply_for(self, batch: AckBatch) -> str:
        """A reply subject whose answer counts for ``batch``."""
        reply = f"{self._prefix}{next(self._counter)}"
        self._owed[reply] = batch
        batch.replies.append(reply)
        batch.pending += 1
        return reply

    def forget(self, batch: AckBatch) -> None:
        """Stop expecting ``batch``'s answers (done, failed, timed out or abandoned): nothing leaks."""
        for reply in batch.replies:
            self._owed.pop(reply, None)
        if batch.future.done() and not batch.future.cancelled():
            batch.future.exception()  # retrieved: a refusal after a failed publish is not "never retrieved"

    async def _on_answer_in_task(self, msg: Msg) -> None:
        self._on_answer(msg)

    def _on_answer(self, msg: Msg) -> None:
        # Runs inside the connection's read loop: nothing here may raise.
        batch = self._owed.pop(msg.subject, None)
        if batch is None:
            return  # an answer after its request gave up
        headers = msg.headers
        if headers and headers.get(_STATUS_HEADER) == _NO_RESPONDERS:
            batch.refused("no stream stores this subject")
            return
        try:
            answer = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            batch.refused("unreadable acknowledgement")
            return
        if not isinstance(answer, dict) or "error" in answer or "stream" not in answer:
            batch.refused(f"JetStream refused the publish: {answer!r}"[:500])
            return
        batch.acknowledged(answer.get("duplicate") is True)
