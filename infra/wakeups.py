"""The event store's followers woken over NATS core instead of PostgreSQL NOTIFY (``eventstore.notify``).

A process's store publishes each announcement once appends have committed, on a subject under
:data:`contracts.subjects.EVENTS_APPENDED_SUBJECT` that names what was appended (``contracts.wakeup_topics``);
a process with followers subscribes to the topics they wake on (when each first starts: a process without
followers, or whose followers wake on none of an append's topics, is not woken by it) and hands what it
hears to them. Core NATS, no JetStream: a wake-up is a
hint (followers still poll), so nothing is stored or acknowledged. Announcements published while this process
is disconnected wait in the client's buffer; those other processes made meanwhile are lost to it, and its
followers find their events at their next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection
from contextlib import AsyncExitStack

import nats.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from contracts.wakeup_topics import announcement_subject, topic_filters, topics_of
from eventstore import NOTIFY_CHANNEL, PostgresEventStore
from eventstore.notify import SharedChannel, hold_shared_channels, listen_along, stop_listening_along
from infra.on_arrival import subscribe_on_arrival

log = structlog.get_logger(__name__)


class NatsAnnouncements:
    """:class:`eventstore.notify.Announcements` on one NATS connection: each announcement published once, on a
    subject naming its topics (``contracts.wakeup_topics``); this process subscribes to the topics its
    followers wake on, when the first of them starts."""

    def __init__(self, nc: NATS) -> None:
        self._nc = nc
        self._hearers: list[Callable[[str], None]] = []
        self._covered: list[int] = []
        self._subscribing: list[asyncio.Task[Subscription | None]] = []

    async def close(self) -> None:
        subscribing, self._subscribing = self._subscribing, []
        for task in subscribing:
            subscription = await task
            if subscription is not None:
                with contextlib.suppress(nats.errors.Error):
                    await subscription.unsubscribe()

    async def _subscribe(self, subject: str) -> Subscription | None:
        try:
            # From the read loop: a wake-up only sets the followers' events (no task, no extra loop pass).
            return await subscribe_on_arrival(self._nc, subject, self._received)
        except nats.errors.Error as error:
            log.warning("eventstore_announcements_unheard", error=repr(error))  # followers poll
            return None

    async def announce(self, payload: str) -> None:
        try:
            await self._nc.publish(announcement_subject(payload.split(",") if payload else ()), payload.encode())
        except nats.errors.Error as error:
            log.warning("eventstore_announce_failed", error=repr(error))  # followers fall back to polling

    def hear(self, on_payload: Callable[[str], None], types: Collection[str] | None = None) -> Callable[[], None]:
        self._hearers.append(on_payload)
        loop = asyncio.get_running_loop()
        for position, subject in topic_filters(topics_of(types), self._covered):
            self._covered.append(position)
            self._subscribing.append(loop.create_task(self._subscribe(subject)))

        def stop() -> None:
            with contextlib.suppress(ValueError):
                self._hearers.remove(on_payload)

        return stop

    def deliver(self, payload: str) -> None:
        """Hand ``payload`` to this process's followers as if it had been announced."""
        for hear in tuple(self._hearers):
            hear(payload)

    def _received(self, msg: Msg) -> None:
        self.deliver(msg.data.decode(errors="replace"))  # never raises: it runs in the read loop


async def wake_over_nats(stack: AsyncExitStack, store: PostgresEventStore, nc: NATS) -> None:
    """From now until ``stack`` closes, ``store`` announces its appends on ``nc`` and its followers hear them
    there (``nc`` must outlive the stack's other uses of the store: open it first).

    The store keeps one LISTEN connection (``eventstore.notify.hold_shared_channels``): for the channels
    shared along it (erasures) and for NOTIFYs of processes without NATS (commands), passed to the followers.
    Events of NATS-woken stores do not NOTIFY, so that session costs PostgreSQL nothing per append."""
    announcements = NatsAnnouncements(nc)
    stack.push_async_callback(announcements.close)
    store.announce_over(announcements)
    notified = SharedChannel(
        NOTIFY_CHANNEL, announcements.deliver, on_joined=lambda: announcements.deliver(""), on_lost=lambda: None
    )
    listen_along(store.pool, notified)
    holder = asyncio.create_task(hold_shared_channels(store.pool), name="eventstore-listen")

    async def stop() -> None:
        stop_listening_along(store.pool, notified)
        holder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await holder

    stack.push_async_callback(stop)
