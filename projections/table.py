"""A read-model table: its columns, how a row dataclass maps onto them, and the two statements a batch needs.

Rows are NamedTuples whose fields are the table's columns, in order (immutable like frozen dataclasses,
but a row IS its record and ``_replace`` is several times cheaper than ``dataclasses.replace``, which a
rebuild calls for nearly every event). A batch loads the rows its
events touch with one ``= ANY($1)`` query, folds them in memory, and writes the changed ones back in one
statement: ``INSERT ... SELECT FROM unnest($1::type[], ...) ON CONFLICT DO UPDATE`` for the few rows of a live
batch (one round trip), or, for the thousands of a rebuild's flush, a binary COPY into a temporary staging
table followed by the same upsert from it (half the client CPU and server time of unnest at that size).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson

from eventstore.pool import AnyConnection

if TYPE_CHECKING:
    from projections.projector import RowsWhere

R = TypeVar("R", bound=tuple[Any, ...])

#: From this many rows on, an upsert goes through COPY rather than unnest arrays.
COPY_FROM = 500


# eq=False: a table is compared (and hashed) by identity; its dicts would make it unhashable otherwise.
@dataclass(frozen=True, eq=False)
class Table(Generic[R]):
    #: Schema-qualified, e.g. ``read_models.leads``.
    name: str
    row_type: type[R]
    #: PostgreSQL type of every column, by field name (used for the typed ``unnest`` arrays).
    types: dict[str, str]
    #: Turns values as asyncpg returns them into what the row holds (e.g. jsonb lists → tuples).
    decoders: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    columns: tuple[str, ...] = field(init=False)
    key: str = field(init=False)
    #: Positions of the jsonb columns.
    json_columns: frozenset[int] = field(init=False)

    def __post_init__(self) -> None:
        names: tuple[str, ...] = self.row_type._fields  # type: ignore[attr-defined]
        missing = set(names) ^ set(self.types)
        if missing:
            raise ValueError(f"{self.name}: column types do not match the row's fields: {sorted(missing)}")
        object.__setattr__(self, "columns", names)
        # The first field is the primary key, by convention of every row type here.
        object.__setattr__(self, "key", names[0])
        object.__setattr__(self, "json_columns", frozenset(i for i, c in enumerate(names) if self.types[c] == "jsonb"))

    # ------------------------------------------------------------------------------------ row <-> record

    def from_record(self, record: Sequence[Any]) -> R:
        decoders = self.decoders
        if not decoders:
            return self.row_type(*record)
        values = [
            decoders[name](value) if name in decoders else value
            for name, value in zip(self.columns, record, strict=True)
        ]
        return self.row_type(*values)

    # ------------------------------------------------------------------------------------------- SQL

    @property
    def select_sql(self) -> str:
        return (
            f"SELECT {', '.join(self.columns)} FROM {self.name} "
            f"WHERE {self.key} = ANY($1::{self.types[self.key]}[])"
        )

    @property
    def upsert_sql(self) -> str:
        arrays = ", ".join(f"${i}::{self.types[c]}[]" for i, c in enumerate(self.columns, start=1))
        columns = ", ".join(self.columns)
        return f"INSERT INTO {self.name} ({columns}) SELECT * FROM unnest({arrays}) " + self._on_conflict()

    async def load(self, conn: AnyConnection, keys: Collection[Any]) -> dict[Any, R]:
        if not keys:
            return {}
        records = await conn.fetch(self.select_sql, list(keys))
        rows = (self.from_record(record) for record in records)
        return {getattr(row, self.key): row for row in rows}

    async def load_where(self, conn: AnyConnection, where: RowsWhere) -> dict[Any, R]:
        """Every row whose ``where.column`` holds one of ``where.values``."""
        if where.column not in self.types:
            raise ValueError(f"{self.name} has no column {where.column!r}")
        sql = (
            f"SELECT {', '.join(self.columns)} FROM {self.name} "
            f"WHERE {where.column} = ANY($1::{self.types[where.column]}[])"
        )
        rows = (self.from_record(record) for record in await conn.fetch(sql, list(where.values)))
        return {getattr(row, self.key): row for row in rows}

    @property
    def stage(self) -> str:
        return "stage_" + self.name.replace(".", "_")

    def _on_conflict(self) -> str:
        updates = ", ".join(f"{c} = excluded.{c}" for c in self.columns if c != self.key)
        return f"ON CONFLICT ({self.key}) DO UPDATE SET {updates}"

    async def upsert(self, conn: AnyConnection, rows: Iterable[R]) -> int:
        """Insert or replace ``rows`` (whole rows: the projection computed their full new value)."""
        records = list(rows)
        if not records:
            return 0
        if len(records) < COPY_FROM:
            # Column-major: one array per column for unnest.
            await conn.execute(self.upsert_sql, *(list(column) for column in zip(*records, strict=True)))
            return len(records)
        # A session-local table, emptied at every commit; created once per connection. Its jsonb columns are
        # text (cast on the way in): binary COPY then does not depend on how the pool codes jsonb.
        await conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {self.stage} ({self._stage_columns}) "
                           f"ON COMMIT DELETE ROWS; TRUNCATE {self.stage}")
        staged = [self._json_as_text(record) for record in records] if self.json_columns else records
        await conn.copy_records_to_table(self.stage, records=staged, columns=list(self.columns))
        columns = ", ".join(self.columns)
        await conn.execute(f"INSERT INTO {self.name} ({columns}) {self._from_stage} {self._on_conflict()}")
        return len(records)

    @property
    def _stage_columns(self) -> str:
        return ", ".join(f"{c} {'text' if self.types[c] == 'jsonb' else self.types[c]}" for c in self.columns)

    @property
    def _from_stage(self) -> str:
        values = ", ".join(f"{c}::jsonb" if self.types[c] == "jsonb" else c for c in self.columns)
        return f"SELECT {values} FROM {self.stage}"

    def _json_as_text(self, record: tuple[Any, ...]) -> tuple[Any, ...]:
        json_columns = self.json_columns
        return tuple(
            orjson.dumps(v).decode() if i in json_columns and v is not None else v for i, v in enumerate(record)
        )

    async def truncate(self, conn: AnyConnection) -> None:
        await conn.execute(f"TRUNCATE {self.name}")
