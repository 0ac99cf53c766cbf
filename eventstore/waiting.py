"""Waiting for an ``asyncio.Event`` with a timeout, without losing a cancellation.

On Python 3.11, ``asyncio.wait_for(event.wait(), timeout)`` can swallow a cancellation that arrives just as
the event is set (CPython gh-86296): a loop built on it then never stops, and whoever awaits the cancelled
task hangs. ``asyncio.wait`` has no such race.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` pass; return whether it is set."""
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=seconds)
    finally:
        waiter.cancel()
    return event.is_set()
