"""Read models forget a person when ``PersonForgotten`` is projected: the live rows become the rows a rebuild
computes from the person's suppressed events, and nothing of the technician's changes."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.events import Event
from contracts.lead_events import LeadAssigned
from contracts.outbound import sender_stream_id
from contracts.personal import SUPPRESSED, suppressed
from contracts.privacy_events import ErasureOutcome, PersonForgotten
from contracts.provider_events import ProviderForgotten
from projections.envelope import Item
from projections.projector import Projector
from projections.readmodels.conversations import CONVERSATIONS_PROJECTOR
from projections.readmodels.leads import LEADS_PROJECTOR
from projections.readmodels.outbound import OUTBOUND_PROJECTOR
from tests.unit.leads_flow_support import CUSTOMER, CUSTOMER_PHONE, PEDRO, Scenario, rating_tap
from tests.unit.projectors_support import CUSTOMER_STREAM, T0, Log, customer_items, fold

pytestmark = pytest.mark.unit

PROJECTORS: list[Projector[Any, Any]] = [LEADS_PROJECTOR, CONVERSATIONS_PROJECTOR, OUTBOUND_PROJECTOR]


def forgotten(outcome: ErasureOutcome = ErasureOutcome.FORGOTTEN) -> PersonForgotten:
    return PersonForgotten(
        request_id="r1", person_key=CUSTOMER, requested_by="test", outcome=outcome,
        streams=(CUSTOMER_STREAM, sender_stream_id(CUSTOMER_STREAM)), decided_at=T0,
    )  # fmt: skip


def as_read_once_forgotten(event: Event) -> Event:
    """The event as the store hands it out once its person's key is gone."""
    return type(event).model_validate(suppressed(event.TYPE, event.model_dump(mode="json")))


def a_whole_job() -> list[Event]:
    s = Scenario(PEDRO).up_to_completed()
    s.customer(rating_tap(5))
    return s.events


def with_request(items: list[Item], log: Log, request: PersonForgotten) -> list[Item]:
    return [*items, *log.record("privacy-requests", [request])]


def texts_of(rows: dict[Any, Any]) -> str:
    return repr(sorted(map(repr, rows.values())))


@pytest.mark.parametrize("projector", PROJECTORS, ids=lambda p: p.table.name)
def test_forgetting_gives_the_rows_a_rebuild_computes_from_suppressed_events(projector: Projector[Any, Any]) -> None:
    events = a_whole_job()
    live_log, rebuilt_log = Log(), Log()
    live_before = fold(projector, customer_items(events, live_log))
    live = fold(projector, live_log.record("privacy-requests", [forgotten()]), live_before)
    rebuilt = fold(
        projector, with_request(customer_items(map(as_read_once_forgotten, events), rebuilt_log), rebuilt_log,
                                forgotten()),
    )  # fmt: skip

    assert live == rebuilt
    assert live != live_before
    assert CUSTOMER_PHONE not in texts_of(live) and "Camila" not in texts_of(live)
    assert SUPPRESSED in texts_of(live)


@pytest.mark.parametrize("projector", PROJECTORS, ids=lambda p: p.table.name)
def test_rows_changed_earlier_in_the_same_batch_are_forgotten_too(projector: Projector[Any, Any]) -> None:
    log = Log()
    one_batch = fold(projector, with_request(customer_items(a_whole_job(), log), log, forgotten()))
    separate = Log()
    before = fold(projector, customer_items(a_whole_job(), separate))
    assert one_batch == fold(projector, separate.record("privacy-requests", [forgotten()]), before)


def test_the_lead_keeps_its_technician_but_not_their_name_as_the_customer_s_record_had_it() -> None:
    # LeadAssigned is sealed with the customer's key: once it is gone, the store reads the name suppressed too.
    log = Log()
    [lead] = fold(LEADS_PROJECTOR, with_request(customer_items(a_whole_job(), log), log, forgotten())).values()
    assert lead.provider_id == PEDRO.provider_id
    assert (lead.provider_name, lead.provider_phone) == (SUPPRESSED, SUPPRESSED)
    assert (lead.customer_phone, lead.problem, lead.address) == (SUPPRESSED, SUPPRESSED, SUPPRESSED)
    assert (lead.comuna, lead.status, lead.rating) == ("Ñuñoa", "rated", 5)


@pytest.mark.parametrize("outcome", [ErasureOutcome.REFUSED_JOB_IN_PROGRESS, ErasureOutcome.ALREADY_FORGOTTEN])
def test_a_request_that_forgot_nobody_changes_no_row(outcome: ErasureOutcome) -> None:
    for projector in PROJECTORS:
        log = Log()
        before = fold(projector, customer_items(a_whole_job(), log))
        assert projector.fold(before, log.record("privacy-requests", [forgotten(outcome)])) == {}


# ------------------------------------------------------------------------- a technician forgotten


def technician_forgotten(provider_id: str = PEDRO.provider_id) -> ProviderForgotten:
    [lead_id] = {e.lead_id for e in a_whole_job() if isinstance(e, LeadAssigned)}
    return ProviderForgotten(provider_id=provider_id, leads=(lead_id,), forgotten_at=T0)


def _with_technician_forgotten(log: Log, items: list[Item], event: ProviderForgotten) -> list[Item]:
    return [*items, *log.record(f"provider-{event.provider_id}", [event])]


@pytest.mark.parametrize("projector", PROJECTORS, ids=lambda p: p.table.name)
def test_forgetting_a_technician_blanks_their_name_and_phone_in_one_batch_as_in_two(
    projector: Projector[Any, Any],
) -> None:
    log, separate = Log(), Log()
    one_batch = fold(projector, _with_technician_forgotten(log, customer_items(a_whole_job(), log),
                                                          technician_forgotten()))  # fmt: skip
    before = fold(projector, customer_items(a_whole_job(), separate))
    two = fold(projector, separate.record(f"provider-{PEDRO.provider_id}", [technician_forgotten()]), before)
    assert one_batch == two
    assert PEDRO.phone not in texts_of(two) and "Pedro" not in texts_of(two)
    assert "Pedro" in texts_of(before)


def test_forgetting_a_technician_leaves_the_customer_s_values() -> None:
    log = Log()
    [lead] = fold(LEADS_PROJECTOR, _with_technician_forgotten(log, customer_items(a_whole_job(), log),
                                                              technician_forgotten())).values()  # fmt: skip
    assert (lead.provider_id, lead.provider_name, lead.provider_phone) == (PEDRO.provider_id, SUPPRESSED, SUPPRESSED)
    assert lead.customer_phone == CUSTOMER_PHONE and lead.problem not in (None, SUPPRESSED)
    rows = fold(CONVERSATIONS_PROJECTOR, _with_technician_forgotten(log, customer_items(a_whole_job(), Log()),
                                                                    technician_forgotten()))  # fmt: skip
    [conversation] = rows.values()
    assert conversation.phone == CUSTOMER_PHONE
    assert any(m["direction"] == "in" and m["text"] not in (None, SUPPRESSED) for m in conversation.recent_messages)


def test_forgetting_a_technician_who_had_nothing_to_do_with_the_lead_changes_no_row() -> None:
    for projector in PROJECTORS:
        log = Log()
        before = fold(projector, customer_items(a_whole_job(), log))
        other = ProviderForgotten(provider_id="someone-else", leads=(), forgotten_at=T0)
        assert projector.fold(before, log.record("provider-someone-else", [other])) == {}
