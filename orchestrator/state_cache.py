"""Recently used customer states, so a message decides on its stream without reading it again.

Folding a whole conversation for every message costs more CPU than the rest of the decision, and reading
the stream is a round trip per message. The cache is only a shortcut: a decision on a cached state is
appended expecting the cached version, so a state gone stale (another writer appended: a timer, another
process) is refused as a conflict; the decision path then forgets it and decides again on the stream as
read. A stale or missing entry costs a read and a second decision, never a wrong decision.
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
        """The stream's state as last seen (read now when not cached); ``state.version`` is the stream
        version it reflects."""
        cached = self._states.get(stream_id)
        if cached is not None:
            self._states.move_to_end(stream_id)
            return cached
        recorded = await self._store.read_stream(stream_id)
        state = leads_flow.fold(event.to_event() for event in recorded)
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
