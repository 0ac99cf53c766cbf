"""Apply a batch of events to projections inside the caller's transaction: load → fold (pure) → upsert.

Two statements per table whatever the batch size: one ``= ANY`` load of the rows the batch touches and one
unnest upsert of the rows it changed (plus one load per selection, e.g. a forgotten person's rows). The
caller commits them with the projection's checkpoint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from eventstore.pool import AnyConnection
from projections.envelope import Item
from projections.projector import Projection, RowsWhere, route_all


async def apply_batch(conn: AnyConnection, projection: Projection, items: Sequence[Item]) -> int:
    """Rows written for ``items`` (already filtered or not: other event types are skipped)."""
    written = 0
    for projector, routed in route_all(projection.projectors, items).items():
        if not routed:
            continue
        selections = {key for key, _, _ in routed if key.__class__ is RowsWhere}
        rows = await projector.table.load(conn, {key for key, _, _ in routed if key.__class__ is not RowsWhere})
        for where in selections:
            rows.update(await projector.table.load_where(conn, where))
        changed = projector.fold_routed(rows, routed)
        written += await projector.table.upsert(conn, changed.values())
    return written


def lock_key(projection: Projection) -> int:
    """The advisory lock that keeps a rebuild and the live runner of one projection apart (a signed int8)."""
    digest = hashlib.blake2b(f"conectapro:{projection.consumer}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
