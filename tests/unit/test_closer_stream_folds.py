"""The closer's kept folds: folding a stream batch by batch gives what folding it whole gives."""

from __future__ import annotations

import pytest

from closer.deadlines import TimerDurations, deadlines_of
from closer.stream_folds import StreamFolds
from contracts.events import RecordedEvent
from privacy.erasure_signal import ErasureSignal
from tests.unit.audit_support import CAMILA, PEDRO, World
from tests.unit.test_closer_deadlines import LEAD

pytestmark = pytest.mark.unit

DURATIONS = TimerDurations()


async def camila_assigned_to_pedro(world: World) -> None:
    await world.register("Pedro Soto", PEDRO)
    await world.says(CAMILA, "hola, se me rompió la cañería del baño y está saliendo agua, estoy en ñuñoa")
    await world.taps(CAMILA, "urgency:hoy")
    await world.says(CAMILA, "irarrázaval 1234 depto 5")
    await world.taps(CAMILA, "confirm:yes")
    await world.taps(PEDRO, f"offer:accept:{LEAD}")


async def camilas_stream() -> tuple[str, list[RecordedEvent]]:
    world = World()
    await camila_assigned_to_pedro(world)
    events = await world.stream(CAMILA)
    return events[0].stream_id, events


async def test_a_stream_folded_batch_by_batch_has_the_deadlines_of_the_whole_stream() -> None:
    stream_id, events = await camilas_stream()
    folds = StreamFolds(DURATIONS)

    assert folds.advanced(stream_id, events[:3]) is None  # nothing kept yet: the stream must be read
    folds.fold(stream_id, events[:3])
    for cut in range(3, len(events), 2):
        fold = folds.advanced(stream_id, events[cut : cut + 2])
        assert fold is not None
        assert fold.deadlines(DURATIONS) == deadlines_of(events[: cut + 2], DURATIONS)
        assert fold.version == min(cut + 2, len(events))


async def test_a_batch_delivered_again_changes_nothing_and_a_gap_asks_for_the_stream() -> None:
    stream_id, events = await camilas_stream()
    folds = StreamFolds(DURATIONS)
    folds.fold(stream_id, events[:4])

    again = folds.advanced(stream_id, events[2:4])
    assert again is not None and again.version == 4
    assert folds.advanced(stream_id, events[5:]) is None  # event 5 was never seen: not folded over
    assert folds.advanced(stream_id, events[4:]) is None  # and the fold was dropped: read the whole stream


def test_only_the_streams_touched_last_are_kept() -> None:
    folds = StreamFolds(DURATIONS, kept=2)
    for stream_id in ("customer-a", "customer-b", "customer-a", "customer-c"):
        folds.fold(stream_id, [])
    assert len(folds) == 2
    assert folds.advanced("customer-b", []) is None
    assert folds.advanced("customer-a", []) is not None


def test_an_erasure_heard_from_any_process_drops_the_persons_fold() -> None:
    folds = StreamFolds(DURATIONS)
    signal = ErasureSignal()
    signal.on_forgotten(folds.forget_person)
    for stream_id in ("customer-a", "customer-b", "customer-c"):
        folds.fold(stream_id, [])

    signal.heard("b")
    assert folds.advanced("customer-b", []) is None
    assert folds.advanced("customer-a", []) is not None
    signal.lost()  # erasures may have gone unheard: nothing kept is trusted
    assert len(folds) == 0
