"""Which events of the global order a follower wants: the others are skipped in the database.

A follower that acts on a few event types (the sender on queued replies, the technicians' directory on
provider events) or on a few streams (the closer on customer streams) would otherwise receive, decode and
open (``eventstore.codec``) every event of the order. With a selection the read is the same walk of the
order as ever — gap-safe, the same rows, the same plan — but of the rows not selected only their place in
the order crosses the wire, so the follower still moves past them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from contracts.events import RecordedEvent


@dataclass(frozen=True, slots=True)
class Selection:
    """Events of ``types`` (any type when None) on streams whose id starts with ``stream_prefix`` (any
    stream when None)."""

    types: frozenset[str] | None = None
    stream_prefix: str | None = None

    @classmethod
    def of_types(cls, types: Collection[str]) -> Selection:
        return cls(types=frozenset(types))

    def matches(self, event: RecordedEvent) -> bool:
        if self.types is not None and event.type not in self.types:
            return False
        return self.stream_prefix is None or event.stream_id.startswith(self.stream_prefix)

    def sql_args(self) -> tuple[list[str] | None, str | None]:
        """The parameters of the store's selected read: the types (sorted) and the stream prefix."""
        return (None if self.types is None else sorted(self.types)), self.stream_prefix
