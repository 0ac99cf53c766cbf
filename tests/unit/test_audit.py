"""The audit re-decides every recorded decision and reports exactly where the store differs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from prometheus_client import REGISTRY

from audit.compare import ABSENT, compare, field_differences
from audit.engine import SENDER_TYPES, Auditor, StoredEvent, audit_events
from contracts.commands import RegisterProvider, TimeoutOffer
from contracts.customer_text import MAX_TEXT_CHARS
from contracts.events import RecordedEvent
from contracts.intent import Service
from contracts.outbound import ReplySent
from orchestrator import leads_flow
from privacy.people import legacy_provider_id as provider_id_for_phone
from projections.operator_api.technician_actions import execute
from tests.unit.audit_support import (
    CAMILA,
    JUANA,
    PEDRO,
    World,
    customer_key,
    customer_stream,
    full_journey,
    offered_to_juana,
)

OTHER = "56922223333"


async def journey() -> tuple[World, list[RecordedEvent]]:
    world = World()
    await full_journey(world)
    await world.says(OTHER, "hola, se cortó la luz en toda la casa, estoy en providencia")
    return world, await world.events()


def tampered(events: list[RecordedEvent], index: int, **changes: Any) -> list[RecordedEvent]:
    altered = list(events)
    altered[index] = RecordedEvent.model_validate({**events[index].model_dump(), **changes})
    return altered


def index_of(events: list[RecordedEvent], event_type: str, nth: int = 0, stream: str | None = None) -> int:
    found = [i for i, e in enumerate(events) if e.type == event_type and (stream is None or e.stream_id == stream)]
    return found[nth]


async def test_a_store_written_by_the_real_handler_and_timers_audits_clean() -> None:
    _, events = await journey()
    report = audit_events(events)
    assert report.clean, report.render()
    assert report.events == len(events)
    assert report.streams == 4  # two customers, two technicians
    assert report.decisions == 11  # 2 registrations, 8 messages (1 a technician's), 1 timer


async def test_a_changed_reply_text_is_reported_with_the_field_that_differs() -> None:
    _, events = await journey()
    i = index_of(events, "ReplyQueued")
    data = {**events[i].data, "message": {**events[i].data["message"], "body": "Hola, ¿cómo estás? (editado)"}}
    report = audit_events(tampered(events, i, data=data))
    assert not report.clean
    [(stream_id, [divergence])] = report.divergences.items()
    assert stream_id == customer_stream(CAMILA)
    assert divergence.cause == "wamid.T00001"
    assert any('ReplyQueued.message.body: stored "Hola, ¿cómo estás? (editado)"' in line for line in divergence.lines)


async def test_a_changed_understanding_changes_what_the_decision_captures() -> None:
    _, events = await journey()
    i = index_of(events, "IntentExtracted")
    intent = {**events[i].data["intent"], "comuna": "Macul"}
    report = audit_events(tampered(events, i, data={**events[i].data, "intent": intent}))
    lines = report.divergences[customer_stream(CAMILA)][0].lines
    assert any('LeadFieldsCaptured.fields.comuna: stored "Ñuñoa", re-decided "Macul"' in line for line in lines)


async def test_a_field_added_to_a_recorded_message_is_reported() -> None:
    _, events = await journey()
    i = index_of(events, "MessageReceived")
    report = audit_events(tampered(events, i, data={**events[i].data, "sneaky": "x"}))
    first = report.divergences[customer_stream(CAMILA)][0]
    assert any('MessageReceived.sneaky: stored "x", re-decided (absent)' in line for line in first.lines)


async def test_an_event_removed_from_a_decision_is_reported_missing() -> None:
    _, events = await journey()
    i = index_of(events, "MatchingAttempted")
    report = audit_events(events[:i] + events[i + 1 :])
    assert not report.clean
    first = report.divergences[customer_stream(CAMILA)][0]
    assert any("stored ProviderOffered, the decision produces MatchingAttempted" in line for line in first.lines)


async def test_a_decision_whose_cause_was_not_recorded_cannot_be_rebuilt() -> None:
    _, events = await journey()
    i = index_of(events, "OfferExpired")
    metadata = events[i].metadata.model_dump()
    del metadata["command"]
    report = audit_events(tampered(events, i, metadata=metadata))
    [divergence] = report.divergences[customer_stream(CAMILA)]
    assert divergence.lines == ("cannot re-decide: CannotRebuild: OfferExpired is neither a recorded message nor a "
                                "recorded command",)  # fmt: skip


async def test_after_a_divergence_the_rest_of_the_stream_is_audited_against_what_is_stored() -> None:
    _, events = await journey()
    i = index_of(events, "ReplyQueued")
    data = {**events[i].data, "purpose": "edited"}
    report = audit_events(tampered(events, i, data=data))
    assert len(report.divergences[customer_stream(CAMILA)]) == 1  # one decision, not every one after it


async def test_a_stream_that_no_longer_folds_is_reported_once_and_skipped() -> None:
    _, events = await journey()
    i = index_of(events, "LeadAssigned")
    report = audit_events(tampered(events, i, type="LeadDrafted"))
    found = report.divergences[customer_stream(CAMILA)]
    assert "stored events cannot be folded" in found[-1].lines[0]
    assert len(found) == 2  # the altered decision, then the fold that fails; nothing after


async def test_auditing_one_stream_ignores_changes_elsewhere() -> None:
    _, events = await journey()
    i = index_of(events, "ReplyQueued")  # Camila's stream
    altered = tampered(events, i, data={**events[i].data, "purpose": "edited"})
    report = audit_events(altered, streams={customer_stream(OTHER)})
    assert report.clean
    assert report.streams == 1
    assert report.events == len([e for e in events if e.stream_id == customer_stream(OTHER)])


async def test_a_timer_is_re_decided_with_the_technicians_as_its_directory_saw_them() -> None:
    world = World()
    juana, _ = await offered_to_juana(world)
    await world.directory.catch_up()
    lagging_at = world.directory.checkpoint
    # A third gasfiter registers, but the commands handler's directory has not seen it yet.
    await execute(world.store, RegisterProvider(
        command_id="register-ana", provider_id=provider_id_for_phone("56955554444"), name="Ana Díaz",
        phone="56955554444", services=(Service.GASFITERIA,), comunas=("Ñuñoa",),
    ), clock=lambda: world.now)  # fmt: skip
    lead_id = f"{customer_key(CAMILA)}.1"
    world.advance(minutes=11)
    await world.commands.handle(
        TimeoutOffer(command_id="timeout", customer_key=customer_key(CAMILA), lead_id=lead_id, provider_id=juana)
    )
    events = await world.events()
    timer = [e for e in events if e.metadata.correlation_id == "timeout"]
    assert timer[0].metadata.providers_checkpoint == (lagging_at.transaction_id, lagging_at.global_position)
    assert audit_events(events).clean
    # Without the recorded position the audit would use the views just before the decision, Ana included.
    i = events.index(timer[0])
    metadata = {k: v for k, v in timer[0].metadata.model_dump().items() if k != "providers_checkpoint"}
    assert not audit_events(tampered(events, i, metadata=metadata)).clean


async def test_an_operators_registration_is_re_decided_too() -> None:
    _, events = await journey()
    i = index_of(events, "ProviderRegistered")
    data = {**events[i].data, "comunas": ["nunoa"]}  # not the canonical name the decision writes
    report = audit_events(tampered(events, i, data=data))
    [divergence] = report.divergences[events[i].stream_id]
    assert 'ProviderRegistered.comunas[0]: stored "nunoa", re-decided "Ñuñoa"' in divergence.lines[0]


async def test_a_technicians_message_about_no_lead_is_re_decided_on_their_stream() -> None:
    world = World()
    await world.register("Pedro Soto", PEDRO)
    await world.says(PEDRO, "hola, alguna pega?")
    events = await world.events()
    assert [e.type for e in events if e.stream_id.startswith("provider-")][-2:] == ["MessageReceived", "ReplyQueued"]
    assert audit_events(events).clean


async def test_the_senders_events_only_advance_the_version_in_the_domain() -> None:
    # The audit folds a group of them in one step without decoding them; this holds it to the domain's evolve.
    _, events = await journey()
    for stream_id in {e.stream_id for e in events if e.stream_id.startswith("customer-")}:
        state = leads_flow.INITIAL_STATE
        for recorded in (e for e in events if e.stream_id == stream_id):
            event = recorded.to_event()
            after = leads_flow.evolve(state, event)
            if recorded.type in SENDER_TYPES:
                assert after == replace(state, version=state.version + 1), recorded.type
            state = after
    assert ReplySent.TYPE in {e.type for e in events}


async def test_the_audit_reads_the_same_whichever_way_events_are_fed() -> None:
    _, events = await journey()
    auditor = Auditor()
    stored = [StoredEvent.of(e) for e in events]
    for start in range(0, len(stored), 7):  # in pages
        auditor.feed(stored[start : start + 7])
    assert auditor.finish() == audit_events(events)


def test_differences_name_nested_fields_and_absent_ones() -> None:
    stored = {"a": 1, "b": {"c": [1, 2], "d": "x"}}
    expected = {"a": 1, "b": {"c": [1, 3]}, "e": True}
    assert list(field_differences(stored, expected)) == [
        ("b.c[1]", 2, 3),
        ("b.d", "x", ABSENT),
        ("e", ABSENT, True),
    ]


def test_an_identical_decision_has_no_differences() -> None:
    assert compare([], []) == []


async def test_a_customer_coming_back_a_month_later_is_re_decided_at_the_recorded_times() -> None:
    world = World()
    await full_journey(world)
    world.advance(days=30)
    await world.says(CAMILA, "hola de nuevo, gotea la llave de la cocina en ñuñoa")
    assert audit_events(await world.events()).clean


async def test_replies_to_two_technicians_are_audited_on_the_customers_stream() -> None:
    world = World()
    await offered_to_juana(world)
    await world.taps(JUANA, f"offer:decline:{customer_key(CAMILA)}.1")
    assert audit_events(await world.events()).clean


async def test_a_reader_may_leave_the_senders_events_out() -> None:
    # `conectapro audit` does (they hold no decision): the same decisions are re-decided, the same
    # alteration is caught, only the count of events read differs.
    _, events = await journey()
    without = [e for e in events if e.type not in SENDER_TYPES]
    assert len(without) < len(events)
    full, partial = audit_events(events), audit_events(without)
    assert partial.clean and (partial.decisions, partial.streams) == (full.decisions, full.streams)
    assert partial.events == len(without)

    last = index_of(without, "ReplyQueued", nth=-1)  # after every ReplySent of its stream but its own
    data = {**without[last].data, "purpose": "altered"}
    caught = audit_events(tampered(without, last, data=data)).divergences
    caught_in_full = audit_events(tampered(events, events.index(without[last]), data=data)).divergences
    assert caught and caught == caught_in_full


async def test_a_text_cut_at_whatsapps_limit_is_recorded_counted_and_audits_clean() -> None:
    world = World()
    cuts_before = REGISTRY.get_sample_value("conectapro_texts_cut_total") or 0.0
    await world.says(CAMILA, "se cortó la luz en ñuñoa " + "a" * 5000)
    await world.says(OTHER, "hola, se cortó la luz en providencia")
    events = await world.events()

    cut, whole = [e for e in events if e.type == "MessageReceived"]
    assert cut.data["text_truncated_from"] == len("se cortó la luz en ñuñoa ") + 5000
    assert len(cut.data["text"]) == MAX_TEXT_CHARS
    assert "text_truncated_from" not in whole.data  # as events recorded before the field existed
    assert REGISTRY.get_sample_value("conectapro_texts_cut_total") == cuts_before + 1
    assert audit_events(events).clean
