"""Read model ``read_models.operators``: who may use the console, with which role, and who changed it last."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from contracts.events import Event
from contracts.operator_events import OperatorAdded, OperatorDisabled, OperatorPasswordSet
from projections.envelope import EventContext
from projections.projector import Projector
from projections.table import Table


class OperatorRow(NamedTuple):
    name: str
    role: str
    active: bool
    added_by: str
    added_at: datetime
    updated_by: str
    updated_at: datetime


OPERATORS = Table(
    "read_models.operators",
    OperatorRow,
    {
        "name": "text", "role": "text", "active": "boolean", "added_by": "text", "added_at": "timestamptz",
        "updated_by": "text", "updated_at": "timestamptz",
    },
)  # fmt: skip


def evolve_operator(row: OperatorRow | None, event: Event, ctx: EventContext) -> OperatorRow | None:
    match event:
        case OperatorAdded(name=name, role=role, by=by, added_at=at):
            return OperatorRow(name, role.value, True, by, at, by, at)
        case OperatorPasswordSet(by=by, set_at=at) if row is not None:
            return row._replace(updated_by=by, updated_at=at)
        case OperatorDisabled(by=by, disabled_at=at) if row is not None:
            return row._replace(active=False, updated_by=by, updated_at=at)
    return row


def operator_key(event: Event, _: EventContext) -> str | None:
    name: str | None = getattr(event, "name", None)
    return name


OPERATORS_PROJECTOR: Projector[str, OperatorRow] = Projector(
    OPERATORS,
    frozenset(cls.TYPE for cls in (OperatorAdded, OperatorPasswordSet, OperatorDisabled)),
    operator_key,
    evolve_operator,
)
