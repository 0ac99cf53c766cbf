"""Messages of a core NATS subscription handled as the connection's read loop receives them.

A subscription with a callback hands each message from the read loop to a task of its own through a queue:
one more wakeup per message. Here the subscription has no callback and its queue is replaced by one that
handles each message as the read loop puts it. That queue is nats-py's private ``Subscription._pending_queue``:
should a release rename it, the subscription falls back to a callback (:func:`handled_on_arrival` says
which; tests pin it). The handler runs inside the read loop: it must neither block nor raise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription


class _HandleOnArrival(asyncio.Queue[Msg]):
    """A subscription's pending queue that handles each message as the read loop puts it."""

    def __init__(self, handle: Callable[[Msg], None]) -> None:
        super().__init__()
        self._handle = handle

    def put_nowait(self, item: Msg) -> None:
        self._handle(item)


async def subscribe_on_arrival(nc: NATS, subject: str, handle: Callable[[Msg], None]) -> Subscription:
    """Subscribe to ``subject`` with ``handle`` called from the read loop (else from the usual task)."""
    # pending_bytes_limit=0: nothing is ever pending, the read loop's byte count must not refuse messages.
    subscription = await nc.subscribe(subject, pending_bytes_limit=0)
    if isinstance(getattr(subscription, "_pending_queue", None), asyncio.Queue):
        subscription._pending_queue = _HandleOnArrival(handle)
        return subscription
    await subscription.unsubscribe()

    async def in_task(message: Msg) -> None:
        handle(message)

    return await nc.subscribe(subject, cb=in_task)


def handled_on_arrival(subscription: Subscription | None) -> bool:
    """Whether ``subscription``'s messages are handled from the read loop itself (else by its task)."""
    return isinstance(getattr(subscription, "_pending_queue", None), _HandleOnArrival)
