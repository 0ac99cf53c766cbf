"""Erasures heard across processes, so that people and their keys may be kept in memory between messages.

An erasure sends ``NOTIFY privacy_forgotten, '<person key>'`` in its own transaction (:func:`announce`):
PostgreSQL delivers it to every listening session when, and only if, the deletion commits. Each process
listens on the LISTEN connection its followers of the store keep (:func:`hear_along_followers`); what it has
cached of a person is dropped when the notification arrives. A cache is trusted only while that connection
listens (:attr:`ErasureSignal.live`): not before the first LISTEN, and not from the moment the connection is
found lost (its termination, or a follower finding it closed) until it listens again — erasures committed
meanwhile went unheard, so everything cached is dropped and lookups go to the database until then.

A lookup in flight when an erasure is heard may carry the person's row from before it: its answer is kept only
if no erasure was heard (and the connection never lost) while it ran (:meth:`ErasureSignal.mark`,
:meth:`ErasureSignal.still`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

from eventstore.notify import SharedChannel, listen_along, stop_listening_along

log = structlog.get_logger("privacy")

CHANNEL = "privacy_forgotten"
_ANNOUNCE = f"SELECT pg_notify('{CHANNEL}', $1)"


async def announce(connection: Any, person_key: str) -> None:
    """Tell every process this person is forgotten, on ``connection`` inside the erasure's transaction."""
    await connection.execute(_ANNOUNCE, person_key)


class ErasureSignal:
    """What this process hears of erasures: whether it hears them at all, and who to tell."""

    def __init__(self) -> None:
        #: True only while a LISTEN connection is known to be up (see the module's docstring).
        self.live = False
        self._heard = 0
        self._forgetters: list[Callable[[str | None], None]] = []

    def on_forgotten(self, forget: Callable[[str | None], None]) -> None:
        """``forget(person_key)`` drops what a cache holds of the person; ``forget(None)``: of everyone."""
        self._forgetters.append(forget)

    def mark(self) -> int:
        """Taken before a lookup whose answer may be cached."""
        return self._heard

    def still(self, mark: int) -> bool:
        """Whether an answer looked up since ``mark`` may be cached: listening, and nothing heard since."""
        return self.live and self._heard == mark

    def heard(self, person_key: str | None) -> None:
        """``person_key`` was forgotten (None: anyone may have been, e.g. while not listening)."""
        self._heard += 1
        for forget in self._forgetters:
            forget(person_key)

    def lost(self, *, stopping: bool = False) -> None:
        if self.live and not stopping:
            log.warning("privacy_erasures_unheard", reason="listen connection lost: people looked up afresh")
        self.live = False
        self.heard(None)

    def joined(self) -> None:
        self.heard(None)  # whatever was erased while nobody listened
        self.live = True


def hear_along_followers(pool: asyncpg.Pool[Any], signal: ErasureSignal) -> Callable[[], None]:
    """Feed ``signal`` from the LISTEN connection the process keeps anyway (``eventstore.notify.listen_along``:
    a follower's, or with followers woken over NATS the store's own, ``infra.wakeups``). Returns what stops
    it. A process with neither never goes live: it asks the database at every lookup."""
    stopped = False

    def joined() -> None:
        if not stopped:
            signal.joined()

    def lost() -> None:
        signal.lost(stopping=stopped)

    channel = SharedChannel(CHANNEL, lambda payload: signal.heard(payload or None), joined, lost)
    listen_along(pool, channel)

    def stop() -> None:
        nonlocal stopped
        stopped = True
        stop_listening_along(pool, channel)
        signal.lost(stopping=True)

    return stop
