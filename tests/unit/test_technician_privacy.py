"""A technician's personal data: their erasure in the pure domain (the view, the decisions), their request on
WhatsApp (rules only), whose keys seal their streams, and the audit around a forgotten technician's name."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from audit.compare import compare
from audit.stored import StoredEvent
from contracts.commands import (
    ActivateProvider,
    ForgetProvider,
    HandleTechnicianMessage,
    Understanding,
    UpdateProvider,
)
from contracts.events import EventMetadata, RecordedEvent
from contracts.intent import UnderstandingSource
from contracts.outbound import RecipientRole, ReplyQueued
from contracts.personal import SUPPRESSED, person_of_stream
from contracts.provider_events import ProviderErasureRequested, ProviderForgotten
from orchestrator.domain import customer_replies
from orchestrator.domain.presentation import Reply
from orchestrator.domain.providers import ProviderCommandRejected
from orchestrator.leads_flow import decide_provider, decide_unrouted_technician_message, deterministic_ids
from orchestrator.understanding.erasure import asks_for_erasure
from privacy.people import is_legacy_person_key, is_unkeyed_technician, legacy_provider_id, new_person_key
from tests.unit.leads_flow_support import (
    PEDRO,
    T0,
    TAP_CONFIRM,
    Scenario,
    of_type,
    technician_replies,
    texts,
    types,
)

pytestmark = pytest.mark.unit


def forget(provider_id: str = "pedro", leads: tuple[str, ...] = ()) -> ForgetProvider:
    return ForgetProvider(command_id="forget-1", provider_id=provider_id, leads=leads)


def test_forgetting_a_technician_deactivates_them_for_good_and_blanks_their_name_and_phone() -> None:
    s = Scenario(PEDRO)
    [forgotten] = decide_provider(forget(leads=("c1.1",)), providers=s.views, now=T0)
    assert forgotten == ProviderForgotten(provider_id="pedro", leads=("c1.1",), forgotten_at=T0)
    s._fold_views([forgotten])
    view = s.views["pedro"]
    assert (view.name, view.phone, view.active, view.forgotten) == (SUPPRESSED, SUPPRESSED, False, True)
    assert decide_provider(forget(), providers=s.views, now=T0) == []  # forgetting twice records nothing
    with pytest.raises(ProviderCommandRejected, match="erased"):
        decide_provider(ActivateProvider(command_id="a", provider_id="pedro"), providers=s.views, now=T0)
    with pytest.raises(ProviderCommandRejected, match="erased"):
        decide_provider(UpdateProvider(command_id="u", provider_id="pedro", capacity=3), providers=s.views, now=T0)


def test_a_forgotten_technician_gets_no_more_offers() -> None:
    s = Scenario(PEDRO)
    s._fold_views(decide_provider(forget(), providers=s.views, now=T0))
    s.up_to_confirming()
    out = s.customer(TAP_CONFIRM)
    assert types(out).count("ProviderOffered") == 0
    assert "LeadUnmatched" in types(out)


def technician_says(text: str) -> HandleTechnicianMessage:
    return HandleTechnicianMessage(
        command_id="w9", provider_id="pedro", phone=PEDRO.phone, wamid="w9", received_at=T0,
        understanding=Understanding(source=UnderstandingSource.RULES, text=text,
                                    asks_for_erasure=asks_for_erasure(text)),
    )  # fmt: skip


def test_a_technician_asking_on_whatsapp_is_told_an_admin_erases_them_and_the_request_is_recorded() -> None:
    s = Scenario(PEDRO)
    out = decide_unrouted_technician_message(
        technician_says("borren mis datos por favor"), provider=s.views["pedro"], now=T0,
        new_ids=deterministic_ids("w9"),
    )  # fmt: skip
    assert types(out) == ["MessageReceived", "ProviderErasureRequested", "ReplyQueued"]
    [request] = of_type(out, ProviderErasureRequested)
    assert request == ProviderErasureRequested(provider_id="pedro", jobs_in_progress=0, requested_at=T0)
    assert "phone" not in request.model_dump() and "Pedro" not in request.model_dump_json()
    [reply] = technician_replies(out)
    assert reply.purpose == "erasure_by_admin" and reply.to == PEDRO.phone
    assert "administrador" in texts(out)[0] and "Primero termina" not in texts(out)[0]


def test_a_technician_with_a_job_in_progress_is_told_to_finish_it_first() -> None:
    s = Scenario(PEDRO).up_to_assigned()
    view = s.views["pedro"]
    out = decide_unrouted_technician_message(technician_says("eliminen mi información"), provider=view, now=T0,
                                             new_ids=deterministic_ids("w9"))  # fmt: skip
    assert of_type(out, ProviderErasureRequested)[0].jobs_in_progress == 1
    assert "Primero termina" in texts(out)[0]


def test_an_erasure_request_names_no_lead_even_with_one_job_open() -> None:
    from orchestrator.leads_flow import route_technician_message

    view = Scenario(PEDRO).up_to_assigned().views["pedro"]
    assert route_technician_message(view, None, "borra mis datos", asks_for_erasure=True) is None
    assert route_technician_message(view, None, "listo") is not None


def test_technicians_registered_now_are_people_and_legacy_ids_stay_unkeyed() -> None:
    person = new_person_key()
    assert person_of_stream(f"provider-{person}") == person == person_of_stream(f"outbound-provider-{person}")
    assert not is_unkeyed_technician(person)
    legacy = legacy_provider_id(PEDRO.phone)
    assert len(legacy) == 13 and is_unkeyed_technician(legacy) and is_unkeyed_technician("pedro")
    assert not is_legacy_person_key(legacy)  # a legacy technician is no legacy customer


def _queued(body_of: Reply, to: str) -> ReplyQueued:
    return ReplyQueued(reply_id=UUID(int=1), to=to, recipient=RecipientRole.CUSTOMER, purpose=body_of.purpose,
                       message=body_of.message, in_reply_to="w1")  # fmt: skip


def _stored(event: ReplyQueued) -> StoredEvent:
    recorded = RecordedEvent(
        event_id=uuid4(), stream_id="customer-c1", stream_version=1, type=event.TYPE,
        schema_version=event.SCHEMA_VERSION, data=event.model_dump(mode="json"),
        metadata=EventMetadata(correlation_id="w1", recorded_at=T0), global_position=1,
    )  # fmt: skip
    return StoredEvent.of(recorded)


def test_the_audit_checks_a_reply_around_a_forgotten_technician_s_name() -> None:
    # The customer still has their key; the technician's registration, re-decided from, reads suppressed.
    stored = _stored(_queued(customer_replies.technician_assigned("Pedro Soto", PEDRO.phone), "56987654321"))
    redecided = _queued(customer_replies.technician_assigned(SUPPRESSED, SUPPRESSED), "56987654321")
    assert compare([redecided], [stored]) == []
    wrong_phone = _queued(customer_replies.technician_assigned(SUPPRESSED, "56900000000"), "56987654321")
    assert compare([wrong_phone], [stored]) != []
    other_text = _queued(customer_replies.job_completed(SUPPRESSED), "56987654321")
    assert compare([other_text], [stored]) != []
