"""Appends made at the same moment by independent callers, committed together in one transaction.

A process that records many small, independent facts at once (the sender's attempts and outcomes, the
orchestrator's decisions and delivery statuses) would otherwise pay a commit — a WAL flush — and a
connection of its own for each. Callers ``await group.append(...)`` as they would ``store.append``:
while one group's statement is in flight the next calls queue up, and go together in the next one
(batching by itself, no timer: an append made alone waits for nobody). A group is one statement
(``PostgresEventStore.append_many``): one round trip, one transaction.

Each append keeps its own meaning (inbox id, expected version); a version conflict fails only its own.
If anything else fails — a race for the next version of an ANY_VERSION stream with another process, a
duplicate event id — nothing of the group is written and each of its appends is made again on its own,
so every caller gets exactly the result or the error its own append would have had.

A *patient* append (``group.patiently.append``: facts nobody waits on but read models, such as delivery
statuses) may wait up to ``patience`` seconds for company before its group goes; any other append, or a
full group, sends the waiting ones along at once. At a steady trickle this turns a transaction per fact
into one per decision, without delaying the decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from contracts.events import NewEvent
from eventstore.postgres import Append, PostgresEventStore
from eventstore.store import AppendResult, ConcurrencyError

#: At most this many appends share a transaction (a long one would hold back gap-safe readers).
MAX_GROUP = 64


@dataclass(eq=False, slots=True)
class _Pending:
    stream_id: str
    expected_version: int
    events: Sequence[NewEvent]
    inbox_id: str | None
    result: asyncio.Future[AppendResult]
    patient: bool


class GroupCommit:
    """``append`` with the store's meaning; concurrent calls share a transaction."""

    def __init__(self, store: PostgresEventStore, *, max_group: int = MAX_GROUP, patience: float = 0.0) -> None:
        self._store = store
        self._max_group = max_group
        self._patience = patience
        self._queue: list[_Pending] = []
        self._task: asyncio.Task[None] | None = None
        #: Set when the queue holds an append that must not wait (or a full group).
        self._hurry = asyncio.Event()
        #: The same appends, each willing to wait up to ``patience`` for others to share its transaction.
        self.patiently = PatientAppends(self)

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[NewEvent], inbox_id: str | None = None
    ) -> AppendResult:
        return await self._queued(stream_id, expected_version, events, inbox_id, patient=False)

    async def _queued(
        self, stream_id: str, expected_version: int, events: Sequence[NewEvent], inbox_id: str | None, *, patient: bool
    ) -> AppendResult:
        result: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(stream_id, expected_version, events, inbox_id, result, patient))
        if not patient or len(self._queue) >= self._max_group:
            self._hurry.set()
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name="group-commit")
        return await result

    async def _drain(self) -> None:
        group: list[_Pending] = []
        try:
            while self._queue:
                if self._patience and not self._hurry.is_set():
                    # A timeout on this task, not wait_for's task of its own (and its wake-ups) per group.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._patience):
                            await self._hurry.wait()
                group, self._queue = self._queue[: self._max_group], self._queue[self._max_group :]
                if not any(not p.patient for p in self._queue) and len(self._queue) < self._max_group:
                    self._hurry.clear()
                group = [pending for pending in group if not pending.result.done()]  # callers cancelled
                if len(group) == 1:
                    await self._alone(group[0])
                elif group:
                    await self._together(group)
        finally:
            self._task = None
            self._hurry.clear()
            for pending in [*group, *self._queue]:  # cancelled mid-way: nobody must wait forever
                if not pending.result.done():
                    pending.result.cancel()
            if self._queue:
                self._queue = []

    async def _together(self, group: list[_Pending]) -> None:
        try:
            results = await self._store.append_many(
                [Append(p.stream_id, p.expected_version, p.events, p.inbox_id) for p in group]
            )
        except Exception:
            for pending in group:
                await self._alone(pending)
            return
        for pending, result in zip(group, results, strict=True):
            if pending.result.done():
                continue
            if isinstance(result, ConcurrencyError):
                pending.result.set_exception(result)
            else:
                pending.result.set_result(result)

    async def _alone(self, pending: _Pending) -> None:
        try:
            result = await self._store.append(
                pending.stream_id, pending.expected_version, pending.events, pending.inbox_id
            )
        except Exception as error:
            if not pending.result.done():
                pending.result.set_exception(error)
            return
        if not pending.result.done():
            pending.result.set_result(result)


class PatientAppends:
    """``append`` of a :class:`GroupCommit` that may wait for company (see the module)."""

    def __init__(self, group: GroupCommit) -> None:
        self._group = group

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[NewEvent], inbox_id: str | None = None
    ) -> AppendResult:
        return await self._group._queued(stream_id, expected_version, events, inbox_id, patient=True)
