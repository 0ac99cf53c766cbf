"""Recently used customer states, so a message reads only the events its stream gained since last time.

Folding a whole conversation for every message costs more CPU than the rest of the decision. The cache
is only a shortcut: the stream is always read from the cached version on, and the append still checks
the expected version, so a stale or missing entry costs a longer read, never a wrong decision.
"""

from __future__ import annotations

from collections import OrderedDict

from eventstore import EventStore
from orchestrator import leads_flow
from orchestrator.domain.model import CustomerState


class CustomerStateCache:
    def __init__(self, store: EventStore, max_streams: int = 20_000) -> None:
        self._store = store
        self._max = max_streams
        self._states: OrderedDict[str, CustomerState] = OrderedDict()

    async def load(self, stream_id: str) -> CustomerState:
        """The stream's current state; ``state.version`` is the stream version it reflects."""
        cached = self._states.get(stream_id)
        start = cached.version + 1 if cached is not None else 1
        recorded = await self._store.read_stream(stream_id, from_version=start)
        state = leads_flow.fold((event.to_event() for event in recorded), cached)
        self._remember(stream_id, state)
        return state

    def appended(self, stream_id: str, state: CustomerState) -> None:
        """Our own append committed: ``state`` (the decision's, folded with what we wrote) is the stream's."""
        self._remember(stream_id, state)

    def forget(self, stream_id: str) -> None:
        self._states.pop(stream_id, None)

    def _remember(self, stream_id: str, state: CustomerState) -> None:
        self._states[stream_id] = state
        self._states.move_to_end(stream_id)
        while len(self._states) > self._max:
            self._states.popitem(last=False)
