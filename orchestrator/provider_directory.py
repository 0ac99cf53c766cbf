"""The technicians as the orchestrator sees them: ``ProviderView``s folded from the global event order.

Matching needs every technician's coverage, capacity and current load; those come from provider events and
from lead events on many customer streams, so the directory follows the whole store. It may trail the
store by a moment; every offer and assignment is still decided against the lead's own stream, which
optimistic concurrency keeps consistent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

import structlog

from contracts.events import RecordedEvent
from eventstore import Checkpoint, EventStore, Selection
from orchestrator.domain.providers import PROVIDER_VIEW_TYPES, ProviderView, apply_provider_event

log = structlog.get_logger(__name__)

#: Under load every append wakes the directory: reading at most this often turns one or two queries per
#: handled message into one larger read every 50 ms (a technician's new load is seen that much later; each
#: decision records the directory checkpoint it saw, so the audit re-decides against the same views).
READ_EVERY = 0.05
#: Notifications wake the directory at once; reading without one is only the fallback for a lost NOTIFY.
POLL_EVERY = 2.0
#: The events a view is folded from: the rest of the order is skipped in the database.
_VIEW_EVENTS = Selection.of_types(PROVIDER_VIEW_TYPES)
# Waiting for an append to become readable: it is, as soon as the transactions older than it have ended.
_FIRST_PAUSE = 0.002
_LAST_PAUSE = 0.1


class ProviderDirectory:
    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._views: Mapping[str, ProviderView] = {}
        self._by_phone: dict[str, str] = {}
        self._checkpoint = Checkpoint.START
        # Two catch-ups at once (two operator requests) would both fold the same events: one at a time.
        self._catching_up = asyncio.Lock()

    @property
    def views(self) -> Mapping[str, ProviderView]:
        return self._views

    @property
    def checkpoint(self) -> Checkpoint:
        return self._checkpoint

    def by_phone(self, phone: str | None) -> ProviderView | None:
        provider_id = self._by_phone.get(phone or "")
        return self._views.get(provider_id) if provider_id else None

    def apply(self, events: list[RecordedEvent], read_until: Checkpoint | None = None) -> None:
        """Fold ``events``, skipping any already folded: ``follow`` and a ``catch_up`` may both deliver them.
        ``read_until``: every event up to there was read, ``events`` being the ones that can change a view."""
        views = self._views
        for event in events:
            at = Checkpoint.of(event)
            if at <= self._checkpoint:
                continue
            views = apply_provider_event(views, event)
            self._checkpoint = at
        if read_until is not None and read_until > self._checkpoint:
            self._checkpoint = read_until
        if views is not self._views:
            self._views = views
            self._by_phone = {view.phone: view.provider_id for view in views.values()}

    async def catch_up(self, until: Checkpoint | None = None) -> None:
        """Read everything committed since the last catch-up (all of it the first time) — with ``until``,
        also wait for that place in the global order (an append just made may still sit behind an older
        transaction that has not ended, and is not readable before it does)."""
        async with self._catching_up:
            first = self._checkpoint == Checkpoint.START
            pause = _FIRST_PAUSE
            while True:
                while True:
                    page = await self._store.read_order(self._checkpoint, 2000, _VIEW_EVENTS)
                    self.apply(page.events, page.until)
                    if not page.more:
                        break
                if until is None or self._checkpoint >= until:
                    break
                await asyncio.sleep(pause)
                pause = min(pause * 2, _LAST_PAUSE)
            if first:
                log.info("provider_directory_ready", providers=len(self._views))

    async def follow(self) -> None:
        """Keep up with the store until cancelled, at most ``READ_EVERY`` seconds behind it."""
        # Woken only by appends that can change a view, and reading only those (the rest stays in the database).
        following = self._store.follow(
            self._checkpoint, poll_interval=POLL_EVERY, min_interval=READ_EVERY, wake_on=PROVIDER_VIEW_TYPES,
            only=_VIEW_EVENTS,
        )  # fmt: skip
        async with contextlib.aclosing(following) as batches:
            async for batch in batches:
                self.apply(batch)
