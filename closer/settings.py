"""The closer's settings (``CLOSER_*``, validated with every other setting) as the domain's durations."""

from __future__ import annotations

from datetime import timedelta

from closer.deadlines import TimerDurations
from contracts.intent import Urgency
from infra.settings import CloserSettings


def timer_durations(settings: CloserSettings, *, retention_days: int | None = None) -> TimerDurations:
    """``retention_days``: ``PRIVACY_RETENTION_DAYS`` (None: personal data is not forgotten by age)."""
    return TimerDurations(
        draft_abandoned=timedelta(hours=settings.draft_abandoned_hours),
        offer_unanswered=timedelta(minutes=settings.offer_unanswered_minutes),
        job_window={
            Urgency.HOY: timedelta(hours=settings.follow_up_hours_hoy),
            Urgency.UNO_DOS_DIAS: timedelta(hours=settings.follow_up_hours_1_2_dias),
            Urgency.SEMANA: timedelta(hours=settings.follow_up_hours_semana),
        },
        rating_window=timedelta(hours=settings.rating_window_hours),
        erasure_question=timedelta(hours=settings.erasure_question_wait_hours),
        goodbye_wait=timedelta(seconds=settings.erasure_goodbye_wait_seconds),
        retention=timedelta(days=retention_days) if retention_days is not None else None,
    )
