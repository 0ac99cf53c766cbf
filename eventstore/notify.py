"""Wake-ups for readers of the global order: NOTIFY after appends commit, LISTEN in followers.

Appends do not NOTIFY inside their own transaction: PostgreSQL serialises every notifying transaction on one
cluster-wide lock held through its commit, WAL flush included, so concurrent appenders would queue up behind
each other. Instead the store pokes a
:class:`Notifier` after each append has committed; it sends one NOTIFY at a time from a pool connection, in
a transaction with ``synchronous_commit = off`` (a wake-up needs no durability), and coalesces the pokes
that arrive meanwhile; its payload names the event types appended, so a follower of a few types sleeps
through the commits of others. Appends of types nobody waits for at once (``unhurried``: a writer's
records that only read models follow, which read every 250 ms anyway) wait up to ``unhurried_interval``
for company before their NOTIFY, unless a hurried append comes. If a NOTIFY is lost (crash, connection
error), followers still poll.

A store may announce its appends some other way (:class:`Announcements`, e.g. NATS core): then nothing
NOTIFYs in PostgreSQL and followers hear the announcements instead of LISTENing. PostgreSQL commits a
transaction in every listening session of the database for each NOTIFY, so one LISTEN connection per
follower costs the database work per append; a process keeps one LISTEN connection for its shared channels
only (:func:`hold_shared_channels`), which costs nothing while events do not NOTIFY.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
import structlog

from eventstore.waiting import wait_event

log = structlog.get_logger(__name__)

# eventstore_append (sql/0001_events.sql) and the Notifier use this channel; the payload is empty.
NOTIFY_CHANNEL = "events"

# The payload names the event types appended since the previous NOTIFY (comma-separated), so that a
# follower interested in a few types is not woken by every commit. An empty payload means "anything".
# One round trip: a simple-protocol query string (a NOTIFY without durability needs no flush at commit).
_NOTIFY = "BEGIN; SET LOCAL synchronous_commit = off; SELECT pg_notify('{channel}', '{payload}'); COMMIT;"
#: A payload longer than this names no types (NOTIFY payloads are limited to 8,000 bytes).
_MAX_PAYLOAD = 4000

_CONNECTION_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


def notify_payload(types: Iterable[str]) -> str:
    """The payload naming ``types`` (empty, meaning "anything", when too long for a NOTIFY)."""
    text = ",".join(sorted(set(types)))
    return "" if len(text) > _MAX_PAYLOAD else text


def _wakes(types: frozenset[str] | None, payload: str) -> bool:
    """Whether a follower of ``types`` (None: of all) wakes for an announcement of ``payload``."""
    return types is None or not payload or not types.isdisjoint(payload.split(","))


class Announcements(Protocol):
    """Appends announced to the followers of every process without PostgreSQL NOTIFY (``infra.wakeups``).

    A hint, as a NOTIFY is: one lost costs a follower its poll interval, never an event."""

    async def announce(self, payload: str) -> None:
        """Tell every process's followers that events of the types ``payload`` names committed."""
        ...

    def hear(self, on_payload: Callable[[str], None], types: Collection[str] | None = None) -> Callable[[], None]:
        """Call ``on_payload`` with the payload of each announcement of ``types`` (None: of any; it may also
        call it for others) until the function returned is called."""
        ...


class Notifier:
    """Sends NOTIFY on behalf of appends that have committed: at most one in flight, then a pause.

    Every poke made during a NOTIFY or the pause after it is folded into the next NOTIFY, so a busy
    writer costs at most one NOTIFY per ``min_interval`` (one per append slows even a single writer down)
    and a follower learns of an append at most ``min_interval`` late.
    """

    def __init__(self, pool: asyncpg.Pool[Any], min_interval: float = 0.02, unhurried_interval: float = 0.25) -> None:
        self._pool = pool
        self._min_interval = min_interval
        self._unhurried_interval = unhurried_interval
        self._unhurried: frozenset[str] = frozenset()
        self._pending = False
        self._types: set[str] = set()
        self._hurry = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sending = False
        self._announce: Callable[[str], Awaitable[None]] = self._notify
        self._in_transactions = True

    def announce_with(self, announce: Callable[[str], Awaitable[None]]) -> None:
        """Send through ``announce`` instead of a NOTIFY (and no append takes a NOTIFY along any more)."""
        self._announce = announce
        self._in_transactions = False

    def unhurried(self, types: Collection[str]) -> None:
        """Appends of only these types may wake followers up to ``unhurried_interval`` late."""
        self._unhurried = frozenset(types)

    def take_along(self, types: AbstractSet[str]) -> str | None:
        """The payload for an append of ``types`` that will NOTIFY in its own transaction, or None when it
        should poke instead. It may when followers wait for its types at once (unhurried appends wait for
        company: one NOTIFY for many is cheaper for every listener) and no NOTIFY is being sent; the types
        of pokes waiting for company go along with it (if it writes nothing, :meth:`poke` them back)."""
        if not self._in_transactions or self._sending or not types or types <= self._unhurried:
            return None
        payload = notify_payload(self._types | types)
        self._pending, self._types = False, set()
        return payload

    def poke(self, types: Iterable[str] = ()) -> None:
        """Wake followers about an append of events of ``types`` (none given: of any type)."""
        appended = set(types)
        self._pending = True
        self._types.update(appended)
        if not appended or not appended <= self._unhurried:
            self._hurry.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._send())

    async def flush(self) -> None:
        """Wait until every poke so far has been sent (before closing the pool)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _send(self) -> None:
        try:
            while self._pending:
                # Nothing hurried yet: gather the unhurried appends of a while in one NOTIFY.
                await wait_event(self._hurry, self._unhurried_interval)
                self._hurry.clear()
                if not self._pending:
                    break  # an append took them along (take_along)
                self._pending = False
                payload, self._types = notify_payload(self._types), set()
                self._sending = True
                try:
                    await self._announce(payload)
                finally:
                    self._sending = False
                await asyncio.sleep(self._min_interval)
        except _CONNECTION_ERRORS as error:
            log.warning("eventstore_notify_failed", error=str(error))  # followers fall back to polling
        finally:
            self._task = None

    async def _notify(self, payload: str) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(_NOTIFY.format(channel=NOTIFY_CHANNEL, payload=payload.replace("'", "''")))


@dataclass(eq=False)
class SharedChannel:
    """A channel a process listens on along with its followers, on the LISTEN connection of one of them
    (:func:`listen_along`): every listening session commits a transaction for each NOTIFY sent in the
    database (PostgreSQL reads its notification queue in one), so a process keeps one such session.
    ``on_joined`` once it listens; ``on_lost`` when that connection is lost or closed (notifications may
    have been missed until the next ``on_joined``)."""

    channel: str
    on_notify: Callable[[str], None]
    on_joined: Callable[[], None]
    on_lost: Callable[[], None]
    holder: Wakeup | None = None

    def _deliver(self, _conn: object, _pid: object, _channel: object, payload: object) -> None:
        self.on_notify(str(payload))


# By pool (asyncpg pools take no weak references): an entry goes with its last channel.
_SHARED: dict[asyncpg.Pool[Any], list[SharedChannel]] = {}


def listen_along(pool: asyncpg.Pool[Any], channel: SharedChannel) -> None:
    """Listen on ``channel`` on the LISTEN connection of a follower of ``pool`` (from its next wake-up on)."""
    _SHARED.setdefault(pool, []).append(channel)


def stop_listening_along(pool: asyncpg.Pool[Any], channel: SharedChannel) -> None:
    """No longer listen on ``channel`` (its wake-up stops delivering it when it next listens anew)."""
    channels = _SHARED.get(pool, [])
    with contextlib.suppress(ValueError):
        channels.remove(channel)
    if not channels:
        _SHARED.pop(pool, None)


class Wakeup:
    """One LISTEN connection that sets :attr:`event` on every notification of the channel — with
    ``types``, only on those naming one of them (or naming none: an append that did not say). It also
    listens on the pool's shared channels no other wake-up holds (:func:`listen_along`); with no channel,
    only on those.

    Losing it is not fatal: callers keep polling, and the next :meth:`ensure` listens again.
    """

    def __init__(
        self, pool: asyncpg.Pool[Any], channel: str | None = NOTIFY_CHANNEL, types: Collection[str] | None = None
    ) -> None:
        self._pool = pool
        self._channel = channel
        self._types = None if types is None else frozenset(types)
        self._conn: asyncpg.pool.PoolConnectionProxy[Any] | None = None
        self._held: list[SharedChannel] = []
        self.event = asyncio.Event()

    def _on_notify(self, _conn: object, _pid: object, _channel: object, payload: object) -> None:
        if _wakes(self._types, str(payload)):
            self.event.set()

    async def ensure(self) -> None:
        if self._conn is not None and self._listening(self._conn):
            await self._hold_shared(self._conn)
            return
        await self.close()
        try:
            conn = await self._pool.acquire()
        except _CONNECTION_ERRORS as error:
            log.warning("eventstore_listen_failed", channel=self._channel, error=str(error))
            return
        # Ours from here on, so that close() gives it back even if a cancel comes mid-LISTEN (a service
        # stopping): a connection kept out of the pool makes closing the pool wait forever.
        self._conn = conn
        conn.add_termination_listener(self._on_termination)
        try:
            if self._channel is not None:
                await conn.add_listener(self._channel, self._on_notify)
        except _CONNECTION_ERRORS as error:
            log.warning("eventstore_listen_failed", channel=self._channel, error=str(error))
            await self.close()
            return
        except BaseException:
            conn.terminate()  # cut mid-LISTEN, the server may listen on (a transaction per NOTIFY): a new one
            raise
        self.event.set()  # anything committed while we were not listening must be looked at
        await self._hold_shared(conn)

    async def _hold_shared(self, conn: asyncpg.pool.PoolConnectionProxy[Any]) -> None:
        for shared in _SHARED.get(self._pool, ()):
            if shared.holder is not None:
                continue
            try:
                await conn.add_listener(shared.channel, shared._deliver)
            except _CONNECTION_ERRORS as error:
                log.warning("eventstore_listen_failed", channel=shared.channel, error=str(error))
                return
            except BaseException:
                conn.terminate()  # cut mid-LISTEN, as in ensure(): it must not go back to the pool listening
                raise
            shared.holder = self
            self._held.append(shared)
            shared.on_joined()

    def _let_go(self) -> list[SharedChannel]:
        held, self._held = self._held, []
        for shared in held:
            shared.holder = None
            shared.on_lost()
        return held

    def _on_termination(self, _conn: object) -> None:
        self._let_go()

    @staticmethod
    def _listening(conn: asyncpg.pool.PoolConnectionProxy[Any]) -> bool:
        try:
            return not conn.is_closed()
        except asyncpg.InterfaceError:  # the server closed it and the pool took it back: the proxy is detached
            return False

    async def wait(self, at_most: float) -> None:
        await wait_event(self.event, at_most)

    async def close(self) -> None:
        held = self._let_go()
        conn, self._conn = self._conn, None
        if conn is None:
            return
        # Released whatever happens: a connection kept out of the pool makes closing the pool wait forever.
        unlistened = False
        try:
            with contextlib.suppress(*_CONNECTION_ERRORS):
                conn.remove_termination_listener(self._on_termination)
                if self._channel is not None:
                    await conn.remove_listener(self._channel, self._on_notify)
                for shared in held:
                    await conn.remove_listener(shared.channel, shared._deliver)
                unlistened = True
        finally:
            if not unlistened:
                with contextlib.suppress(asyncpg.InterfaceError):  # the pool took it back already
                    conn.terminate()  # it may still listen: the pool opens a new connection instead
            await self._pool.release(conn)


class HeardWakeup:
    """A follower's wake-up from :class:`Announcements`: as :class:`Wakeup`, with no connection to hold."""

    def __init__(self, announcements: Announcements, types: Collection[str] | None = None) -> None:
        self._announcements = announcements
        self._types = None if types is None else frozenset(types)
        self._stop: Callable[[], None] | None = None
        self.event = asyncio.Event()

    def _on_payload(self, payload: str) -> None:
        if _wakes(self._types, payload):
            self.event.set()

    async def ensure(self) -> None:
        if self._stop is None:
            self._stop = self._announcements.hear(self._on_payload, self._types)
            self.event.set()  # anything committed before we heard must be looked at

    async def wait(self, at_most: float) -> None:
        await wait_event(self.event, at_most)

    async def close(self) -> None:
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()


async def hold_shared_channels(pool: asyncpg.Pool[Any], check_every: float = 1.0) -> None:
    """Listen on the pool's shared channels (:func:`listen_along`) on a LISTEN connection of their own, until
    cancelled: for a process whose followers keep none (they hear :class:`Announcements`). A lost connection
    is let go at once (its termination) and replaced within ``check_every`` seconds."""
    holder = Wakeup(pool, None)
    try:
        while True:
            await holder.ensure()
            await asyncio.sleep(check_every)
    finally:
        await holder.close()
