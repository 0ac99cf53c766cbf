"""The projection framework: routing a batch once, folding only what changes, tables that match rows."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from contracts.lead_events import LeadDrafted
from projections.catalog import PROJECTIONS, UnknownProjection, chosen
from projections.projector import route_all
from projections.readmodels.conversations import CONVERSATIONS_PROJECTOR
from projections.readmodels.leads import LEADS_PROJECTOR
from projections.table import COPY_FROM, Table
from tests.unit.leads_flow_support import CUSTOMER, LEAD, PEDRO, Scenario
from tests.unit.projectors_support import T0, Log, customer_items


def test_a_batch_is_routed_to_every_projector_that_reads_each_event_in_order() -> None:
    items = customer_items(Scenario(PEDRO).up_to_offered().events)
    routed = route_all([LEADS_PROJECTOR, CONVERSATIONS_PROJECTOR], items)
    leads, conversations = routed[LEADS_PROJECTOR], routed[CONVERSATIONS_PROJECTOR]
    assert {key for key, _, _ in leads} == {LEAD}
    assert {key for key, _, _ in conversations} == {CUSTOMER}
    positions = [ctx.global_position for _, _, ctx in conversations]
    assert positions == sorted(positions)
    assert "IntentExtracted" not in {event.TYPE for _, event, _ in leads + conversations}


def test_a_fold_returns_only_the_rows_that_changed() -> None:
    drafted = LeadDrafted(lead_id=LEAD, customer_key=CUSTOMER, phone="56911112222", drafted_at=T0)
    first = LEADS_PROJECTOR.fold({}, Log().record("customer-x", [drafted]))
    assert list(first) == [LEAD]
    assert LEADS_PROJECTOR.fold(first, Log().record("customer-x", [drafted])) == {}


def test_a_table_refuses_column_types_that_do_not_match_its_rows() -> None:
    class Row(NamedTuple):
        key: str
        value: int

    with pytest.raises(ValueError, match="value"):
        Table("t.rows", Row, {"key": "text"})
    table = Table("t.rows", Row, {"key": "text", "value": "integer"})
    assert (table.key, table.columns) == ("key", ("key", "value"))
    assert "ON CONFLICT (key) DO UPDATE SET value = excluded.value" in table.upsert_sql
    assert COPY_FROM > 1


def test_projections_are_chosen_by_name_and_an_unknown_name_is_refused() -> None:
    assert [p.name for p in chosen()] == list(PROJECTIONS)
    assert [p.name for p in chosen(["outbound"])] == ["outbound"]
    assert [t.name for t in PROJECTIONS["outbound"].tables] == [
        "read_models.outbound_messages", "read_models.delivery_statuses",
    ]  # fmt: skip
    with pytest.raises(UnknownProjection, match="leadz"):
        chosen(["leadz"])


def test_every_projection_has_its_own_checkpoint() -> None:
    consumers = [p.consumer for p in PROJECTIONS.values()]
    assert len(set(consumers)) == len(consumers)
    assert all(consumer.startswith("projection-") for consumer in consumers)
