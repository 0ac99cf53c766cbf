"""Erasures heard across processes, so that people and their keys may be kept in memory between messages.

An erasure sends ``NOTIFY privacy_forgotten, '<person key>'`` in its own transaction (:func:`announce`):
PostgreSQL delivers it to every listening session when, and only if, the deletion commits. Each process
keeps one LISTEN connection (:class:`ErasureListener`); what it has cached of a person is dropped when the
notification arrives. A cache is trusted only while that connection listens (:attr:`ErasureSignal.live`):
not before the first LISTEN, and not from the moment the connection is found lost (its termination, or a
ping that fails) until it listens again — erasures committed meanwhile went unheard, so everything cached
is dropped and lookups go to the database until then.

A lookup in flight when an erasure is heard may carry the person's row from before it: its answer is kept
only if no erasure was heard (and the connection never lost) while it ran (:meth:`ErasureSignal.mark`,
:meth:`ErasureSignal.still`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

log = structlog.get_logger("privacy")

CHANNEL = "privacy_forgotten"
_ANNOUNCE = f"SELECT pg_notify('{CHANNEL}', $1)"
_CONNECTION_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncio.TimeoutError)


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


class ErasureListener:
    """Keeps a LISTEN connection (borrowed from the pool for good) feeding an :class:`ErasureSignal`: pings it
    every ``ping_interval`` seconds (a connection cut off silently sends no termination), and listens again
    after ``retry_interval`` when it is lost."""

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        signal: ErasureSignal,
        *,
        ping_interval: float = 10.0,
        retry_interval: float = 1.0,
    ) -> None:
        self._pool = pool
        self._signal = signal
        self._ping_interval = ping_interval
        self._retry_interval = retry_interval
        self._ended = asyncio.Event()
        self._stopping = False
        #: The backend listening, while one is.
        self.server_pid: int | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="privacy-erasure-listener")

    async def stop(self) -> None:
        task, self._task = self._task, None
        self._stopping = True
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._signal.lost(stopping=True)

    def _on_notify(self, _conn: object, _pid: object, _channel: object, payload: object) -> None:
        self._signal.heard(str(payload) or None)

    def _on_termination(self, _conn: object) -> None:
        self._signal.lost(stopping=self._stopping)
        self._ended.set()

    async def _run(self) -> None:
        while True:
            connection = None
            try:
                connection = await self._pool.acquire()
                self.server_pid = connection.get_server_pid()
                self._ended.clear()
                connection.add_termination_listener(self._on_termination)
                await connection.add_listener(CHANNEL, self._on_notify)
                self._signal.joined()
                while not self._ended.is_set():
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._ended.wait(), self._ping_interval)
                    if not self._ended.is_set():
                        await asyncio.wait_for(connection.fetchval("SELECT 1"), self._ping_interval)
            except _CONNECTION_ERRORS as error:
                log.warning("privacy_listen_failed", error=type(error).__name__)
            finally:
                self.server_pid = None
                self._signal.lost(stopping=self._stopping)
                if connection is not None:
                    await self._release(connection)
            await asyncio.sleep(self._retry_interval)

    async def _release(self, connection: Any) -> None:
        with contextlib.suppress(*_CONNECTION_ERRORS):
            connection.remove_termination_listener(self._on_termination)
            await connection.remove_listener(CHANNEL, self._on_notify)
        with contextlib.suppress(*_CONNECTION_ERRORS):
            await self._pool.release(connection)
