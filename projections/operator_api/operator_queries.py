"""Reading the operators' read model (``read_models.operators``), for the console and the command line."""

from __future__ import annotations

from typing import Any

import asyncpg

from projections.readmodels.operators import OPERATORS, OperatorRow

_ALL = f"SELECT {', '.join(OPERATORS.columns)} FROM {OPERATORS.name} ORDER BY name"


async def list_operators(pool: asyncpg.Pool[Any]) -> list[OperatorRow]:
    async with pool.acquire() as conn:
        return [OPERATORS.from_record(record) for record in await conn.fetch(_ALL)]
