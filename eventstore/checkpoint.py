"""Consumer checkpoints, read and written on the caller's connection.

Pass the connection of the transaction that writes the consumer's own effects (read-model rows, sent
messages): the checkpoint then commits with them or not at all, which turns at-least-once delivery into
exactly-once effects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from eventstore.pool import AnyConnection
from eventstore.store import Checkpoint

_LOAD = "SELECT transaction_id, global_position FROM checkpoints WHERE consumer = $1"

# With an expected checkpoint the write only happens if the stored one is still that: a second runner of
# the same consumer that got there first makes this one a no-op (and its transaction is rolled back).
_SAVE = """
INSERT INTO checkpoints AS c (consumer, transaction_id, global_position)
VALUES ($1, $2::xid8, $3)
ON CONFLICT (consumer) DO UPDATE
SET transaction_id = excluded.transaction_id, global_position = excluded.global_position, updated_at = now()
WHERE $4::boolean IS NOT TRUE OR (c.transaction_id, c.global_position) = ($5::xid8, $6::bigint)
"""


_LOAD_MANY = "SELECT consumer, transaction_id, global_position FROM checkpoints WHERE consumer = ANY($1::text[])"

# Several guarded moves in one statement: each consumer's row is written only if it is still at its
# expected place (a consumer never seen is at the start); fewer rows written than moves means a conflict.
_SAVE_MANY = """
WITH moves AS (
    SELECT * FROM unnest($1::text[], $2::xid8[], $3::bigint[], $4::xid8[], $5::bigint[])
        AS m(consumer, transaction_id, global_position, expected_transaction_id, expected_global_position)
)
INSERT INTO checkpoints AS c (consumer, transaction_id, global_position)
SELECT consumer, transaction_id, global_position FROM moves
ON CONFLICT (consumer) DO UPDATE
SET transaction_id = excluded.transaction_id, global_position = excluded.global_position, updated_at = now()
WHERE (c.transaction_id, c.global_position) = (
    SELECT m.expected_transaction_id, m.expected_global_position FROM moves m WHERE m.consumer = excluded.consumer
)
"""


class CheckpointConflict(Exception):
    """Another runner of the same consumer moved its checkpoint: this runner's batch must not commit."""

    def __init__(self, consumer: str, expected: Checkpoint) -> None:
        super().__init__(f"checkpoint of {consumer!r} is no longer {expected}")
        self.consumer = consumer
        self.expected = expected


async def load_checkpoint(conn: AnyConnection | asyncpg.Pool[Any], consumer: str) -> Checkpoint:
    """The consumer's checkpoint, or :attr:`Checkpoint.START` for a consumer never seen."""
    row = await conn.fetchrow(_LOAD, consumer)
    if row is None:
        return Checkpoint.START
    return Checkpoint(row[0], row[1])


async def save_checkpoint(
    conn: AnyConnection,
    consumer: str,
    checkpoint: Checkpoint,
    *,
    expected: Checkpoint | None = None,
) -> None:
    """Store ``checkpoint``; with ``expected``, raise :class:`CheckpointConflict` unless it was that.

    A consumer never seen counts as being at :attr:`Checkpoint.START`.
    """
    guard = expected is not None
    previous = expected or Checkpoint.START
    status = await conn.execute(
        _SAVE, consumer, checkpoint.transaction_id, checkpoint.global_position,
        guard, previous.transaction_id, previous.global_position,
    )
    if status != "INSERT 0 1":
        assert expected is not None
        raise CheckpointConflict(consumer, expected)


async def load_checkpoints(conn: AnyConnection | asyncpg.Pool[Any], consumers: Sequence[str]) -> dict[str, Checkpoint]:
    """Each consumer's checkpoint (:attr:`Checkpoint.START` for one never seen), in one round trip."""
    found = {row[0]: Checkpoint(row[1], row[2]) for row in await conn.fetch(_LOAD_MANY, list(consumers))}
    return {consumer: found.get(consumer, Checkpoint.START) for consumer in consumers}


async def save_checkpoints(conn: AnyConnection, moves: Sequence[tuple[str, Checkpoint, Checkpoint]]) -> None:
    """Move each ``(consumer, new, expected)`` at once; :class:`CheckpointConflict` unless all were expected."""
    if not moves:
        return
    status = await conn.execute(
        _SAVE_MANY,
        [consumer for consumer, _, _ in moves],
        [new.transaction_id for _, new, _ in moves],
        [new.global_position for _, new, _ in moves],
        [expected.transaction_id for _, _, expected in moves],
        [expected.global_position for _, _, expected in moves],
    )
    if status != f"INSERT 0 {len(moves)}":
        raise CheckpointConflict(", ".join(consumer for consumer, _, _ in moves), moves[0][2])
