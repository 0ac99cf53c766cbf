"""Filtered reads of the global order: a reader that owns some streams, and wants a few events of the others.

The audit reads the whole store once per process, each process owning a hash share of the streams, and
re-decides only its own; a page therefore holds the events of its own streams and, of the others, only
the events that change shared state. Filtering in the database keeps the rest off the wire, and
selecting single metadata fields keeps whole metadata documents from being decoded.

The SQL is built here with the names in the filter as literals (checked to be plain identifiers), so the
planner sees the same query it would for a hand-written one; :data:`INDEX_WALK` keeps it walking the
global-order index page after page.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from contracts.events import RecordedEvent

# Server settings for a store that reads filtered pages: a page is the next rows of the global order, a
# walk of the index on (transaction_id, global_position). The planner, misjudging how many rows the
# filters keep, may instead scan and sort the whole table for every page, or start parallel workers that
# compete with the reader's own processes for the CPUs.
INDEX_WALK = {"enable_seqscan": "off", "enable_bitmapscan": "off", "max_parallel_workers_per_gather": "0"}

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True, slots=True)
class OrderFilter:
    """Which events of the global order a reader receives, and which streams it owns.

    Owned streams: exactly ``stream`` when given; else the streams whose id starts with one of
    ``prefixes`` (every stream when empty), and of those the hash share ``share`` of ``shares``.
    Received: every event of an owned stream whose type is not in ``exclude_types``; of other streams,
    only events of ``others_types`` whose data has a non-null ``others_field``.

    A row is ``(stream_id, stream_version, type, schema_version, data, transaction_id, global_position,
    *metadata_text, *metadata_json, owned)``: the ``metadata_text`` fields as text ('' when absent), the
    ``metadata_json`` fields decoded (None when absent).
    """

    stream: str | None = None
    prefixes: tuple[str, ...] = ()
    share: int = 0
    shares: int = 1
    exclude_types: frozenset[str] = frozenset()
    others_types: frozenset[str] = frozenset()
    others_field: str | None = None
    metadata_text: tuple[str, ...] = ()
    metadata_json: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = [*self.prefixes, *self.exclude_types, *self.others_types, *self.metadata_text, *self.metadata_json]
        if self.others_field is not None:
            names.append(self.others_field)
        for name in names:
            if not _NAME.match(name):
                raise ValueError(f"not a plain name: {name!r}")
        if not 0 <= self.share < self.shares:
            raise ValueError(f"share {self.share} of {self.shares}")

    # ---- PostgreSQL ----

    def _owned_sql(self, first_parameter: int) -> str:
        if self.stream is not None:
            return f"stream_id = ${first_parameter}"
        conditions = []
        if self.prefixes:
            conditions.append("(" + " OR ".join(f"stream_id LIKE '{prefix}%'" for prefix in self.prefixes) + ")")
        if self.shares > 1:
            conditions.append(f"mod(abs(hashtext(stream_id)::bigint), ${first_parameter}) = ${first_parameter + 1}")
        return " AND ".join(conditions) or "true"

    def owned_args(self) -> tuple[Any, ...]:
        """The parameters of the owned-stream condition, in the order the SQL numbers them."""
        if self.stream is not None:
            return (self.stream,)
        return (self.shares, self.share) if self.shares > 1 else ()

    def _kept_types_sql(self) -> str:
        if not self.exclude_types:
            return "true"
        return "type NOT IN ({})".format(", ".join(f"'{kind}'" for kind in sorted(self.exclude_types)))

    def _others_sql(self) -> str:
        if not self.others_types:
            return "false"
        kinds = "type IN ({})".format(", ".join(f"'{kind}'" for kind in sorted(self.others_types)))
        if self.others_field is None:
            return kinds
        return f"{kinds} AND data->>'{self.others_field}' IS NOT NULL"

    def page_sql(self) -> str:
        """The next page: ($1, $2) the last place read, $3 the horizon, $4 the size, then :meth:`owned_args`."""
        owned = self._owned_sql(5)
        fields = [f"coalesce(metadata->>'{name}', '')" for name in self.metadata_text]
        fields += [f"metadata->'{name}'" for name in self.metadata_json]
        columns = ", ".join(
            ["stream_id, stream_version, type, schema_version, data, transaction_id, global_position", *fields, owned]
        )
        return f"""
SELECT {columns}
FROM events
WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint) AND transaction_id < $3::xid8
  AND {self._kept_types_sql()} AND ({owned} OR ({self._others_sql()}))
ORDER BY transaction_id, global_position
LIMIT $4
"""

    def count_sql(self) -> str:
        """Owned events kept by the filter, and every event, below the horizon $1; then :meth:`owned_args`."""
        return (
            f"SELECT count(*) FILTER (WHERE {self._kept_types_sql()} AND {self._owned_sql(2)}), count(*) "
            "FROM events WHERE transaction_id < $1::xid8"
        )

    # ---- in memory ----

    def owns(self, stream_id: str) -> bool:
        if self.stream is not None:
            return stream_id == self.stream
        if self.prefixes and not stream_id.startswith(self.prefixes):
            return False
        # Any stable hash partitions the streams; PostgreSQL's hashtext is not available here.
        return self.shares == 1 or zlib.crc32(stream_id.encode()) % self.shares == self.share

    def kept(self, event: RecordedEvent) -> bool:
        """Whether an owned stream's event is kept (its type not excluded)."""
        return event.type not in self.exclude_types

    def receives(self, event: RecordedEvent) -> bool:
        if not self.kept(event):
            return False
        if self.owns(event.stream_id):
            return True
        if event.type not in self.others_types:
            return False
        return self.others_field is None or event.data.get(self.others_field) is not None

    def row(self, event: RecordedEvent) -> tuple[Any, ...]:
        metadata = event.metadata.model_dump(mode="json")
        return (
            event.stream_id, event.stream_version, event.type, event.schema_version, event.data,
            event.transaction_id, event.global_position,
            *(str(metadata.get(name) or "") for name in self.metadata_text),
            *(metadata.get(name) for name in self.metadata_json),
            self.owns(event.stream_id),
        )  # fmt: skip


FilteredRow = Sequence[Any]
