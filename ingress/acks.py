"""JetStream's acknowledgements of the ingress's publishes, collected per request on one inbox.

A JetStream publish is a core NATS publish with a reply subject: the stream answers there once the message
is stored. nats-py's ``publish_async`` does the same, but per message it draws random bytes from the OS,
takes a semaphore through ``wait_for``, decodes the answer into a ``PubAck`` with the standard JSON and
wakes the caller through one future per message. Here a request's updates share one waiter, the reply
subjects are a counter under one inbox per connection, and an answer is read for the two facts the
ingress needs: stored (or refused, and why) and whether it was a duplicate.

Answers are handled as the connection's read loop receives them (``infra.on_arrival``), not by a task
of the subscription's own: one wakeup less per answer (``AckInbox.on_arrival`` says which; a test pins it).
"""

from __future__ import annotations

import asyncio
import itertools

import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from infra.on_arrival import handled_on_arrival, subscribe_on_arrival

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
        self._subscription = await subscribe_on_arrival(self._nc, self._prefix + "*", self._on_answer)

    @property
    def on_arrival(self) -> bool:
        """Whether answers are handled from the read loop itself (else by the subscription's task)."""
        return handled_on_arrival(self._subscription)

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
