"""Deterministic matching of a lead to a technician.

Pool: the technicians who offer the service and cover the comuna. Eligible: in the pool, active, under
capacity (pending offers count, so nobody is offered more than they can take) and not among those who
already passed on this lead. Ranked by, in order:

1. fewest active jobs;
2. best average rating (technicians without ratings count as ``UNRATED_SCORE``, so newcomers are neither
   starved nor favoured);
3. longest since the last assignment (never assigned first);
4. provider id (a total order: the same inputs always give the same choice).

The result lists every candidate of the pool with its keys, and says why the winner won.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from contracts.intent import Service
from contracts.lead_events import CandidateConsidered
from orchestrator.domain.providers import ProviderView

UNRATED_SCORE = 4.0

RANKING_KEYS: tuple[str, ...] = (
    "fewest active jobs",
    f"best average rating (unrated = {UNRATED_SCORE})",
    "longest since last assignment (never assigned first)",
    "provider id",
)


@dataclass(frozen=True, slots=True)
class MatchResult:
    chosen: ProviderView | None
    candidates: tuple[CandidateConsidered, ...]
    outside_coverage: int
    reason: str


def rating_score(view: ProviderView) -> float:
    avg = view.rating_avg
    return avg if avg is not None else UNRATED_SCORE


def rank_key(view: ProviderView) -> tuple[int, float, bool, datetime | str, str]:
    # (never assigned) sorts before any date: False < True; the placeholder is never compared to a date.
    last = view.last_assigned_at
    return (view.active_jobs, -rating_score(view), last is not None, last if last is not None else "", view.provider_id)


def _rejections(view: ProviderView, passed_by: Collection[str]) -> tuple[str, ...]:
    reasons: list[str] = []
    if not view.active:
        reasons.append("inactive")
    load = view.active_jobs + len(view.pending_offers)
    if load >= view.capacity:
        reasons.append(f"at capacity ({view.active_jobs} jobs + {len(view.pending_offers)} offers of {view.capacity})")
    if view.provider_id in passed_by:
        reasons.append("already passed on this lead")
    return tuple(reasons)


def _why(winner: ProviderView, runner_up: ProviderView | None) -> str:
    if runner_up is None:
        return f"{winner.provider_id} is the only eligible technician"
    w, r = winner, runner_up
    if w.active_jobs != r.active_jobs:
        return f"{w.provider_id} has the fewest active jobs ({w.active_jobs} vs {r.active_jobs} for {r.provider_id})"
    if rating_score(w) != rating_score(r):
        return (
            f"{w.provider_id} has the best rating ({rating_score(w)} vs {rating_score(r)} for {r.provider_id}), "
            "tied on active jobs"
        )
    if w.last_assigned_at != r.last_assigned_at:
        since = "never assigned" if w.last_assigned_at is None else f"last assigned {w.last_assigned_at.isoformat()}"
        other = r.last_assigned_at.isoformat() if r.last_assigned_at is not None else "never"
        return f"{w.provider_id} waited longest ({since} vs {other} for {r.provider_id}), tied on jobs and rating"
    return f"{w.provider_id} wins the tie with {r.provider_id} on every key by provider id"


def match(
    providers: Iterable[ProviderView], *, service: Service, comuna: str, passed_by: Collection[str] = ()
) -> MatchResult:
    pool: list[ProviderView] = []
    outside = 0
    for view in providers:
        if service in view.services and comuna in view.comunas:
            pool.append(view)
        else:
            outside += 1
    eligible = sorted((v for v in pool if not _rejections(v, passed_by)), key=rank_key)
    rank_of = {v.provider_id: i for i, v in enumerate(eligible, start=1)}
    ineligible = sorted((v for v in pool if v.provider_id not in rank_of), key=lambda v: v.provider_id)
    candidates = tuple(
        CandidateConsidered(
            provider_id=v.provider_id,
            eligible=v.provider_id in rank_of,
            rejected_because=_rejections(v, passed_by),
            active_jobs=v.active_jobs,
            capacity=v.capacity,
            rating_key=rating_score(v),
            rating_count=v.rating_count,
            last_assigned_at=v.last_assigned_at,
            rank=rank_of.get(v.provider_id),
        )
        for v in (*eligible, *ineligible)
    )
    if not eligible:
        if not pool:
            reason = f"no technician offers {service.value} in {comuna}"
        else:
            reason = f"none of the {len(pool)} technicians for {service.value} in {comuna} is available"
        return MatchResult(chosen=None, candidates=candidates, outside_coverage=outside, reason=reason)
    winner = eligible[0]
    runner_up = eligible[1] if len(eligible) > 1 else None
    return MatchResult(chosen=winner, candidates=candidates, outside_coverage=outside, reason=_why(winner, runner_up))
