"""The messages of a durable JetStream pull consumer as they are stored, without a request per message.

nats-py's ``fetch`` asks for a batch and, once nothing was there when it asked, waits for the whole batch
or its timeout; so a consumer that must not wait fetches one message at a time: a request and its answer
per message, and two requests a second per idle consumer. A feed keeps one pull request waiting on the
server instead (``batch`` messages, expiring after ``expires`` seconds): the server pushes each message to
it as soon as it is there, and the next request goes out when that one is used up, expired or refused.
The consumer's ``max_ack_pending`` still bounds what is handed out and not yet acknowledged.

nats-py has no such "consume" call, so the feed speaks the JetStream API itself (``CONSUMER.MSG.NEXT`` with
a reply subject of its own); messages are the client's usual :class:`~nats.aio.msg.Msg`, acknowledged as
usual. They are handed over as the connection's read loop receives them (``infra.on_arrival``): no task
wakeup per message between the socket and ``on_message``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable

import nats.errors
import orjson
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext, api

from infra.on_arrival import handled_on_arrival, subscribe_on_arrival

log = structlog.get_logger("pull_feed")

#: A request whose end the server never told (a lost connection) is given up this long after it expired.
_GRACE_SECONDS = 1.0
#: JetStream's status header (408 request expired, 409 refused, 100 heartbeat); data messages have none.
_STATUS = "Status"
_HEARTBEAT = "100"
_EXPIRED = "408"


class PullFeed:
    """Hands every message delivered to ``consumer`` of ``stream`` to ``on_message``, in delivery order."""

    def __init__(
        self,
        js: JetStreamContext,
        stream: str,
        consumer: str,
        on_message: Callable[[Msg], None],
        *,
        batch: int,
        expires: float = 5.0,
    ) -> None:
        # The context's connection and API prefix: nats-py keeps them private, and a feed is a JetStream API call.
        self._nc: NATS = js._nc
        self._subject = f"{js._prefix}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._on_message = on_message
        self._batch = batch
        self._expires = expires
        self._inbox = self._nc.new_inbox()
        self._subscription: Subscription | None = None
        self._requests = 0
        #: Messages the waiting request may still bring (0: none waiting), and when it is given up.
        self._remaining = 0
        self._deadline = 0.0
        #: Set when the waiting request ended: time to ask again.
        self.ended = asyncio.Event()
        #: Why the server refused the last request (e.g. "409 Consumer Deleted"), None if it did not.
        self.refusal: str | None = None

    async def start(self) -> None:
        self._subscription = await subscribe_on_arrival(self._nc, f"{self._inbox}.*", self._arrived)

    @property
    def on_arrival(self) -> bool:
        """Whether messages are handed over from the read loop itself (else by the subscription's task)."""
        return handled_on_arrival(self._subscription)

    async def stop(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            with contextlib.suppress(Exception):  # the connection may be gone already
                await subscription.unsubscribe()

    @property
    def expires(self) -> float:
        return self._expires

    @property
    def closed(self) -> bool:
        """Whether the connection is closed for good (a lost one reconnects by itself)."""
        return bool(self._nc.is_closed)

    @property
    def waiting(self) -> bool:
        """Whether a request is waiting on the server for messages."""
        if self._remaining and time.monotonic() > self._deadline:
            self._remaining = 0  # its end was lost with the connection
        return self._remaining > 0

    async def ask(self) -> None:
        """Send a new pull request (the previous one must have ended)."""
        self._requests += 1
        self._remaining = self._batch
        self._deadline = time.monotonic() + self._expires + _GRACE_SECONDS
        self.ended.clear()
        self.refusal = None
        request = {"batch": self._batch, "expires": int(self._expires * 1e9)}
        # Each request has its own reply subject: an old request's late status must not end a newer one.
        await self._nc.publish(self._subject, orjson.dumps(request), reply=f"{self._inbox}.{self._requests}")

    async def keep_waiting(self, wake: Iterable[asyncio.Event]) -> str | None:
        """Sends a request unless one waits, then returns once it ends, one of ``wake`` is set, or it
        should have expired. Returns what went wrong (to log before trying again a little later), if
        anything did."""
        if not self.waiting:
            try:
                await self.ask()
            except (nats.errors.Error, OSError) as error:
                return repr(error)
        waits = [asyncio.ensure_future(self.ended.wait()), *(asyncio.ensure_future(event.wait()) for event in wake)]
        try:
            await asyncio.wait(waits, timeout=self._expires, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        return self.refusal

    def _arrived(self, message: Msg) -> None:
        # Inside the connection's read loop, which must not fail: what ``on_message`` raises is logged.
        try:
            self._received(message)
        except Exception:
            log.exception("pull_feed_message_not_taken", subject=self._subject)

    def _received(self, message: Msg) -> None:
        status = message.headers.get(_STATUS) if message.headers else None
        if status is None:
            self._count_one()
            self._on_message(message)
        elif status != _HEARTBEAT and message.subject == f"{self._inbox}.{self._requests}":
            if status != _EXPIRED:
                assert message.headers is not None
                self.refusal = f"{status} {message.headers.get(api.Header.DESCRIPTION, '')}".strip()
            self._end()

    def _count_one(self) -> None:
        if self._remaining:
            self._remaining -= 1
            if not self._remaining:
                self._end()

    def _end(self) -> None:
        self._remaining = 0
        self.ended.set()
