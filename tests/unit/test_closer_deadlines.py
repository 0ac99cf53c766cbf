"""The closer's deadlines: pure functions of a customer's recorded stream (written here by the real handler)."""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from datetime import timedelta

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from audit.engine import audit_events
from closer.deadlines import Deadline, TimerDurations, TimerKind, TraceIds, deadlines_of
from closer.forget_jobs import ForgetPerson, ForgetReason
from closer.settings import timer_durations
from contracts.commands import (
    CloseUnratedLead,
    DropErasureQuestion,
    ExpireConversation,
    FollowUpJob,
    HandBackConversation,
    TakeConversation,
    TimeoutOffer,
)
from contracts.intent import Urgency
from infra import telemetry
from infra.settings import Settings
from orchestrator import leads_flow
from projections.operator_api.conversation_actions import execute
from tests.unit.audit_support import CAMILA, PEDRO, T0, World, customer_key, offered_to_juana

DURATIONS = TimerDurations()
LEAD = f"{customer_key(CAMILA)}.1"


async def timers(world: World, durations: TimerDurations = DURATIONS) -> list[Deadline]:
    return deadlines_of(await world.stream(CAMILA), durations)


async def only(world: World) -> Deadline:
    [deadline] = await timers(world)
    return deadline


async def assigned_to_pedro(world: World, urgency_tap: str = "urgency:hoy") -> None:
    await world.register("Pedro Soto", PEDRO)
    await world.says(CAMILA, "hola, se me rompió la cañería del baño y está saliendo agua, estoy en ñuñoa")
    await world.taps(CAMILA, urgency_tap)
    await world.says(CAMILA, "irarrázaval 1234 depto 5")
    await world.taps(CAMILA, "confirm:yes")
    await world.taps(PEDRO, f"offer:accept:{LEAD}")


async def test_a_customer_who_never_started_a_lead_has_no_timers() -> None:
    world = World()
    await world.says(CAMILA, "hola")
    assert await timers(world) == []


async def test_a_fresh_draft_expires_six_hours_after_the_customers_last_message() -> None:
    world = World()
    await world.says(CAMILA, "hola, se me rompió la cañería, estoy en ñuñoa")
    deadline = await only(world)
    assert deadline.kind is TimerKind.DRAFT_ABANDONED
    assert deadline.due_at == T0 + timedelta(hours=6)
    assert deadline.command == ExpireConversation(
        command_id=f"expire-draft:{LEAD}:2025-03-03T12:00:00.000000Z",
        customer_key=customer_key(CAMILA),
        lead_id=LEAD,
        customer_messages_seen=1,  # so a message written after the closer looked keeps the draft alive
    )


async def test_every_message_from_the_customer_postpones_the_expiry_under_a_new_command_id() -> None:
    world = World()
    await world.says(CAMILA, "hola, se me rompió la cañería, estoy en ñuñoa")
    first = await only(world)
    world.advance(hours=2)
    await world.taps(CAMILA, "urgency:hoy")
    second = await only(world)
    assert second.due_at == first.due_at + timedelta(hours=2, minutes=1)
    assert second.command_id != first.command_id


async def test_a_handed_over_draft_does_not_expire_and_its_clock_restarts_when_handed_back() -> None:
    world = World()
    await world.says(CAMILA, "hola, se me rompió la cañería, estoy en ñuñoa")
    await world.says(CAMILA, "quiero hablar con una persona")
    assert await timers(world) == []
    world.advance(hours=8)
    take = TakeConversation(command_id="take", customer_key=customer_key(CAMILA), operator="ana")
    back = HandBackConversation(command_id="back", customer_key=customer_key(CAMILA), operator="ana")
    for command in (take, back):
        await execute(world.store, command, clock=lambda: world.now)
    deadline = await only(world)
    assert deadline.kind is TimerKind.DRAFT_ABANDONED
    assert deadline.due_at == world.now + timedelta(hours=6)


async def test_a_draft_waiting_at_the_summary_still_expires() -> None:
    world = World()
    await world.says(CAMILA, "hola, se me rompió la cañería, estoy en ñuñoa")
    await world.taps(CAMILA, "urgency:hoy")
    await world.says(CAMILA, "irarrázaval 1234 depto 5")
    assert (await only(world)).kind is TimerKind.DRAFT_ABANDONED


async def test_an_offer_times_out_ten_minutes_after_it_was_made_naming_the_technician() -> None:
    world = World()
    juana, _ = await offered_to_juana(world)
    deadline = await only(world)
    assert deadline.kind is TimerKind.OFFER_UNANSWERED
    assert isinstance(deadline.command, TimeoutOffer)
    assert deadline.command.provider_id == juana
    offered_at = T0 + timedelta(minutes=3)  # the fourth message
    assert deadline.due_at == offered_at + timedelta(minutes=10)
    assert deadline.command_id == f"timeout-offer:{LEAD}:{juana}:2025-03-03T12:03:00.000000Z"


async def test_a_declined_offer_hands_its_timer_to_the_next_technician() -> None:
    world = World()
    _, pedro = await offered_to_juana(world)
    await world.taps("56933334444", f"offer:decline:{LEAD}")
    deadline = await only(world)
    assert isinstance(deadline.command, TimeoutOffer)
    assert deadline.command.provider_id == pedro


@pytest.mark.parametrize(
    ("tap", "window"),
    [
        ("urgency:hoy", timedelta(hours=24)),
        ("urgency:1_2_dias", timedelta(hours=72)),
        ("urgency:semana", timedelta(days=7)),
    ],
)
async def test_an_assigned_job_is_followed_up_after_the_window_of_its_urgency(tap: str, window: timedelta) -> None:
    world = World()
    await assigned_to_pedro(world, tap)
    deadline = await only(world)
    assert deadline.kind is TimerKind.JOB_PAST_WINDOW
    assert isinstance(deadline.command, FollowUpJob)
    assigned_at = T0 + timedelta(minutes=4)
    assert deadline.due_at == assigned_at + window


async def test_no_follow_up_runs_while_the_customer_decides_whether_to_cancel_and_it_returns_under_a_new_id() -> None:
    world = World()
    await assigned_to_pedro(world)
    before = await only(world)
    await world.says(CAMILA, "quiero cancelar")
    assert await timers(world) == []
    await world.taps(CAMILA, "consent:no")
    after = await only(world)
    assert after.kind is TimerKind.JOB_PAST_WINDOW
    assert after.due_at == before.due_at  # the window still counts from the assignment
    assert after.command_id != before.command_id  # a follow-up consumed meanwhile did nothing: it may fire again


async def test_a_finished_job_waits_three_days_for_its_rating_then_closes() -> None:
    world = World()
    await assigned_to_pedro(world)
    await world.says(PEDRO, "terminado")
    deadline = await only(world)
    assert deadline.kind is TimerKind.RATING_NEVER_GIVEN
    assert isinstance(deadline.command, CloseUnratedLead)
    assert deadline.due_at == T0 + timedelta(minutes=5) + timedelta(hours=72)


async def test_a_follow_up_that_asked_for_the_rating_starts_the_rating_window() -> None:
    world = World()
    await assigned_to_pedro(world)
    follow_up = await only(world)
    world.now = follow_up.due_at
    assert not isinstance(follow_up.command, ForgetPerson)
    await world.timer(follow_up.command)
    deadline = await only(world)
    assert deadline.kind is TimerKind.RATING_NEVER_GIVEN
    assert deadline.due_at == follow_up.due_at + timedelta(hours=72)


async def test_a_rated_lead_has_no_timers() -> None:
    world = World()
    await assigned_to_pedro(world)
    await world.says(PEDRO, "terminado")
    await world.taps(CAMILA, "rating:5")
    assert await timers(world) == []


async def test_a_cancelled_draft_has_no_timers() -> None:
    world = World()
    await world.says(CAMILA, "hola, se me rompió la cañería, estoy en ñuñoa")
    await world.taps(CAMILA, "confirm:cancel")
    assert await timers(world) == []


async def test_the_same_stream_always_gives_the_same_deadlines() -> None:
    world = World()
    await offered_to_juana(world)
    assert await timers(world) == await timers(world)


async def test_every_deadline_when_decided_at_its_due_time_changes_the_lead() -> None:
    # The closer and the domain agree: a deadline the closer computes is one the decision acts on.
    world = World()
    await assigned_to_pedro(world)
    for _ in range(2):  # follow-up, then close
        deadline = await only(world)
        assert not isinstance(deadline.command, ForgetPerson)
        state = leads_flow.fold(event.to_event() for event in await world.stream(CAMILA))
        events = leads_flow.decide(
            state, deadline.command, providers=world.directory.views, now=deadline.due_at,
            new_ids=leads_flow.deterministic_ids(deadline.command_id),
        )  # fmt: skip
        assert events, deadline
        world.now = deadline.due_at
        await world.timer(deadline.command)
    assert await timers(world) == []


async def test_durations_are_configurable() -> None:
    world = World()
    await world.says(CAMILA, "hola, se me rompió la cañería, estoy en ñuñoa")
    short = TimerDurations(draft_abandoned=timedelta(minutes=30))
    assert (await timers(world, short))[0].due_at == T0 + timedelta(minutes=30)


def test_settings_turn_into_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOSER_OFFER_UNANSWERED_MINUTES", "5")
    monkeypatch.setenv("CLOSER_FOLLOW_UP_HOURS_SEMANA", "100")
    durations = timer_durations(Settings().closer)
    assert durations.offer_unanswered == timedelta(minutes=5)
    assert durations.window_for(Urgency.SEMANA) == timedelta(hours=100)
    assert durations.draft_abandoned == DURATIONS.draft_abandoned


def test_a_lead_without_urgency_waits_the_longest_window() -> None:
    assert DURATIONS.window_for(None) == timedelta(days=7)


@pytest.fixture
def tracing() -> Iterator[None]:
    telemetry.setup_tracing("unit", processor=SimpleSpanProcessor(InMemorySpanExporter()))
    try:
        yield
    finally:
        telemetry.shutdown_tracing()


async def traced(decide: Awaitable[object]) -> TraceIds:
    """Decide inside a message's span, as the orchestrator does; the span's ids."""
    with telemetry.consuming(None, "INBOUND process"):
        trace_id, span_id = telemetry.current_ids()
        await decide
    assert trace_id and span_id
    return TraceIds(trace_id, span_id)


@pytest.mark.usefixtures("tracing")
async def test_a_timer_names_the_traced_decision_that_set_it_and_keeps_it_while_it_runs() -> None:
    world = World()
    await traced(world.register("Juana Pérez", "56933334444"))
    await traced(world.says(CAMILA, "hola, se me rompió la cañería del baño y está saliendo agua, estoy en ñuñoa"))
    draft_set_by = await traced(world.taps(CAMILA, "urgency:hoy", "Hoy"))
    assert (await only(world)).set_by == draft_set_by  # her last message moved the draft's expiry
    await traced(world.says(CAMILA, "irarrázaval 1234 depto 5"))
    offer_set_by = await traced(world.taps(CAMILA, "confirm:yes", "Sí, confirmo"))
    await traced(world.says(CAMILA, "¿ya viene alguien?"))  # the offer's timer runs on, set by the offer

    deadline = await only(world)
    assert deadline.kind is TimerKind.OFFER_UNANSWERED
    assert deadline.set_by == offer_set_by


async def test_a_timer_set_by_an_untraced_decision_names_none() -> None:
    world = World()
    await world.says(CAMILA, "hola, se me rompió la cañería, estoy en ñuñoa")
    assert (await only(world)).set_by is None


# ------------------------------------------------------------------------------ erasure jobs

RETAINING = TimerDurations(retention=timedelta(days=180), goodbye_wait=timedelta(minutes=5))


async def test_a_confirmed_erasure_is_due_at_once_and_gives_up_waiting_for_the_goodbye_later() -> None:
    world = World()
    await world.says(CAMILA, "hola")
    await world.says(CAMILA, "borra mis datos")
    await world.taps(CAMILA, "erasure:yes")
    [deadline] = await timers(world, RETAINING)
    assert deadline.kind is TimerKind.ERASURE_CONFIRMED
    job = deadline.command
    assert isinstance(job, ForgetPerson) and job.reason is ForgetReason.CUSTOMER_REQUEST
    confirmed_at = T0 + timedelta(minutes=2)
    assert deadline.due_at == confirmed_at and job.give_up_at == confirmed_at + timedelta(minutes=5)
    goodbye = [e for e in await world.stream(CAMILA) if e.type == "ReplyQueued"][-1]
    assert str(job.goodbye_reply_id) == goodbye.data["reply_id"]
    assert job.customer_key == customer_key(CAMILA)  # known from the stream: she never started a request


async def test_retention_runs_from_the_last_lead_end_or_message_whichever_is_later() -> None:
    world = World()
    await world.says(CAMILA, "hola, se me rompió la cañería, estoy en ñuñoa")
    await world.says(CAMILA, "cancelar")
    [deadline] = await timers(world, RETAINING)
    assert deadline.kind is TimerKind.RETENTION_PASSED
    assert deadline.due_at == T0 + timedelta(minutes=1) + timedelta(days=180)
    world.now = T0 + timedelta(days=10)
    await world.says(CAMILA, "gracias")
    [later] = await timers(world, RETAINING)
    assert later.due_at == T0 + timedelta(days=190) and later.command_id != deadline.command_id


async def test_no_retention_while_anything_is_open_or_when_it_is_off() -> None:
    world = World()
    await world.says(CAMILA, "hola, se me rompió la cañería, estoy en ñuñoa")
    assert [d.kind for d in await timers(world, RETAINING)] == [TimerKind.DRAFT_ABANDONED]
    await world.says(CAMILA, "quiero hablar con una persona")
    assert await timers(world, RETAINING) == []  # handed over: a person has it
    closed = World()
    await closed.says(CAMILA, "hola, se me rompió la cañería, estoy en ñuñoa")
    await closed.says(CAMILA, "cancelar")
    assert await timers(closed) == []  # no retention period given: kept


async def test_an_erasure_question_left_unanswered_gives_way_and_the_rating_then_retention_run_again() -> None:
    # A finished job; the customer asks to erase their data and never answers: the question must not hold
    # the rating timer, and so retention, forever.
    world = World()
    await assigned_to_pedro(world)
    await world.says(PEDRO, "terminado")
    await world.says(CAMILA, "borra mis datos")
    durations = timer_durations(Settings().closer, retention_days=180)
    [question] = await timers(world, durations)
    assert question.kind is TimerKind.ERASURE_QUESTION_UNANSWERED
    assert question.due_at == world.now - timedelta(minutes=1) + timedelta(hours=24)
    assert isinstance(question.command, DropErasureQuestion)

    world.now = question.due_at
    await world.timer(question.command)
    [rating] = await timers(world, durations)
    assert rating.kind is TimerKind.RATING_NEVER_GIVEN  # resumed where it was, silently
    assert rating.due_at == question.due_at + timedelta(hours=72)
    assert [e.type for e in await world.stream(CAMILA)][-1] == "ConversationStateChanged"

    world.now = rating.due_at
    assert not isinstance(rating.command, ForgetPerson)
    await world.timer(rating.command)
    [retention] = await timers(world, durations)
    assert retention.kind is TimerKind.RETENTION_PASSED
    assert retention.due_at == rating.due_at + timedelta(days=180)
    report = audit_events(await world.events())  # the dropped question is re-decided like any timer
    assert report.clean, report.render()


async def test_an_erasure_question_answered_in_the_meantime_is_not_dropped() -> None:
    world = World()
    await world.says(CAMILA, "hola, se me rompió la cañería, estoy en ñuñoa")
    await world.says(CAMILA, "borra mis datos")
    question = next(d for d in await timers(world) if d.kind is TimerKind.ERASURE_QUESTION_UNANSWERED)
    await world.taps(CAMILA, "erasure:no", "No")
    await world.says(CAMILA, "borra mis datos")  # asked again: a new question, a new timer
    before = await world.stream(CAMILA)
    assert not isinstance(question.command, ForgetPerson)
    await world.timer(question.command)
    assert len(await world.stream(CAMILA)) == len(before)  # the old timer changed nothing
    again = next(d for d in await timers(world) if d.kind is TimerKind.ERASURE_QUESTION_UNANSWERED)
    assert again.command_id != question.command_id
