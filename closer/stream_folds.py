"""The customer streams the closer folded lately, kept folded: a batch folds only their new events.

Without them every batch would read each stream it touched again, whole, and fold it from its first event
(decoding and opening every one), although the batch itself holds everything new. A fold kept here is a
pure function of committed, immutable events, so it stays true whatever happens to the transaction that
made it; it is only used when the batch's events of the stream follow it without a gap, else the stream
is read again. The least recently touched are dropped past ``kept`` (they hold personal fields: only the
streams of people writing lately stay in memory), and a stream whose person was forgotten is dropped
(by the closer's own erasure, or when another process's is heard: ``privacy.erasure_signal``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from closer.deadlines import TimerDurations, TimerFold
from contracts.events import RecordedEvent
from orchestrator.domain.ids import customer_stream_id

#: Streams kept folded at most.
KEPT = 1024


class StreamFolds:
    def __init__(self, durations: TimerDurations, kept: int = KEPT) -> None:
        self._durations = durations
        self._kept = kept
        self._folds: OrderedDict[str, TimerFold] = OrderedDict()

    def __len__(self) -> int:
        return len(self._folds)

    def advanced(self, stream_id: str, new: Sequence[RecordedEvent]) -> TimerFold | None:
        """The stream's fold after ``new`` (its events of a batch, in order), or None when no fold kept leads
        right up to them: then read the whole stream and :meth:`fold` it. Raises what ``evolve`` raises."""
        fold = self._folds.get(stream_id)
        if fold is None:
            return None
        unseen = [event for event in new if event.stream_version > fold.version]  # a batch delivered again
        expected = range(fold.version + 1, fold.version + 1 + len(unseen))
        if [event.stream_version for event in unseen] != list(expected):
            self.forget(stream_id)
            return None
        return self._keep(stream_id, fold.then(unseen, self._durations) if unseen else fold)

    def fold(self, stream_id: str, events: Sequence[RecordedEvent]) -> TimerFold:
        """The fold of a whole stream, read from its first event (raises what ``evolve`` raises)."""
        self.forget(stream_id)
        return self._keep(stream_id, TimerFold().then(events, self._durations))

    def forget(self, stream_id: str) -> None:
        self._folds.pop(stream_id, None)

    def forget_person(self, person_key: str | None) -> None:
        """A person was forgotten, by this process or another (None: anyone may have been)."""
        if person_key is None:
            self._folds.clear()
        else:
            self.forget(customer_stream_id(person_key))

    def _keep(self, stream_id: str, fold: TimerFold) -> TimerFold:
        self._folds[stream_id] = fold
        self._folds.move_to_end(stream_id)
        while len(self._folds) > self._kept:
            self._folds.popitem(last=False)
        return fold
