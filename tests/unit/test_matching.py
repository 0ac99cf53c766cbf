"""Deterministic matching: who is eligible, how ties are broken, and what the decision records."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.intent import Service
from orchestrator.domain.matching import RANKING_KEYS, UNRATED_SCORE, match
from orchestrator.domain.providers import ProviderView

AT = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def tech(
    provider_id: str,
    *,
    services: tuple[Service, ...] = (Service.ELECTRICIDAD,),
    comunas: frozenset[str] = frozenset({"Providencia"}),
    capacity: int = 2,
    active: bool = True,
    jobs: int = 0,
    offers: int = 0,
    ratings: tuple[int, ...] = (),
    last: datetime | None = None,
) -> ProviderView:
    return ProviderView(
        provider_id=provider_id,
        name=provider_id.title(),
        phone="56900000000",
        services=services,
        comunas=comunas,
        capacity=capacity,
        active=active,
        active_leads=tuple(f"x.{i}" for i in range(1, jobs + 1)),
        pending_offers=tuple(f"y.{i}" for i in range(1, offers + 1)),
        rating_sum=sum(ratings),
        rating_count=len(ratings),
        last_assigned_at=last,
    )


def run(*views: ProviderView, passed_by: tuple[str, ...] = ()) -> tuple[str | None, str]:
    result = match(views, service=Service.ELECTRICIDAD, comuna="Providencia", passed_by=passed_by)
    return (result.chosen.provider_id if result.chosen else None), result.reason


def test_fewest_active_jobs_wins_first() -> None:
    chosen, reason = run(tech("ana", jobs=1, ratings=(5,)), tech("beto", jobs=0, ratings=(2,)))
    assert chosen == "beto"
    assert reason == "beto has the fewest active jobs (0 vs 1 for ana)"


def test_on_equal_jobs_the_best_rating_wins() -> None:
    chosen, reason = run(tech("ana", ratings=(4, 4)), tech("beto", ratings=(5, 4)))
    assert chosen == "beto"
    assert reason.startswith("beto has the best rating (4.5 vs 4.0 for ana)")


def test_an_unrated_technician_counts_as_the_neutral_score() -> None:
    chosen, _ = run(tech("ana", ratings=(3,)), tech("beto"))
    assert chosen == "beto"
    chosen, _ = run(tech("ana", ratings=(5,)), tech("beto"))
    assert chosen == "ana"
    assert UNRATED_SCORE == 4.0


def test_on_equal_jobs_and_rating_the_one_waiting_longest_wins_and_never_assigned_goes_first() -> None:
    earlier, later = datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 2, 20, tzinfo=UTC)
    chosen, reason = run(tech("ana", last=later), tech("beto", last=earlier))
    assert chosen == "beto" and "waited longest" in reason
    chosen, _ = run(tech("ana", last=earlier), tech("zoe", last=None))
    assert chosen == "zoe"


def test_a_complete_tie_is_broken_by_provider_id() -> None:
    chosen, reason = run(tech("carla"), tech("ana"), tech("beto"))
    assert chosen == "ana"
    assert reason == "ana wins the tie with beto on every key by provider id"


def test_the_input_order_does_not_change_the_choice() -> None:
    views = [tech("ana", jobs=1), tech("beto", ratings=(5,)), tech("carla", last=AT)]
    assert run(*views)[0] == run(*reversed(views))[0] == "beto"


def test_inactive_full_and_already_passed_technicians_are_not_eligible_and_say_why() -> None:
    result = match(
        [
            tech("ana", active=False),
            tech("beto", capacity=1, jobs=1),
            tech("carla", capacity=1, offers=1),
            tech("diego"),
            tech("eva"),
        ],
        service=Service.ELECTRICIDAD,
        comuna="Providencia",
        passed_by=("diego",),
    )
    assert result.chosen is not None and result.chosen.provider_id == "eva"
    why = {c.provider_id: c.rejected_because for c in result.candidates}
    assert why["ana"] == ("inactive",)
    assert why["beto"] == ("at capacity (1 jobs + 0 offers of 1)",)
    assert why["carla"] == ("at capacity (0 jobs + 1 offers of 1)",)
    assert why["diego"] == ("already passed on this lead",)
    assert why["eva"] == ()
    assert result.reason == "eva is the only eligible technician"


def test_technicians_for_other_services_or_comunas_are_only_counted() -> None:
    result = match(
        [
            tech("ana"),
            tech("gasfiter", services=(Service.GASFITERIA,)),
            tech("lejos", comunas=frozenset({"Arica"})),
        ],
        service=Service.ELECTRICIDAD,
        comuna="Providencia",
    )
    assert [c.provider_id for c in result.candidates] == ["ana"]
    assert result.outside_coverage == 2


def test_the_candidates_come_ranked_with_their_keys() -> None:
    result = match(
        [tech("ana", jobs=1), tech("beto", ratings=(5, 3)), tech("carla", active=False)],
        service=Service.ELECTRICIDAD,
        comuna="Providencia",
    )
    assert [(c.provider_id, c.rank, c.eligible) for c in result.candidates] == [
        ("beto", 1, True),
        ("ana", 2, True),
        ("carla", None, False),
    ]
    beto = result.candidates[0]
    assert (beto.active_jobs, beto.rating_key, beto.rating_count, beto.last_assigned_at) == (0, 4.0, 2, None)
    assert len(RANKING_KEYS) == 4


def test_nobody_in_the_pool_is_reported_as_such() -> None:
    assert run() == (None, "no technician offers Electricidad in Providencia")


def test_nobody_available_in_the_pool_is_reported_as_such() -> None:
    chosen, reason = run(tech("ana", active=False), tech("beto", capacity=1, jobs=1))
    assert chosen is None
    assert reason == "none of the 2 technicians for Electricidad in Providencia is available"
