"""Running a coroutine to completion on uvloop, the event loop every service process uses.

uvloop (libuv) cuts the loop's own share of each request and each NATS/PostgreSQL round trip; the
ingress and orchestrator spend a third of their CPU in the event loop and socket writes otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
