"""The closer's settings, from the environment (``CLOSER_*``), turned into pure ``TimerDurations``."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from closer.deadlines import TimerDurations
from contracts.intent import Urgency


class CloserSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLOSER_", extra="ignore", case_sensitive=False)

    #: A draft with no message from the customer for this long is expired with a goodbye.
    draft_abandoned_hours: float = Field(default=6.0, gt=0)
    #: A technician who does not answer an offer for this long loses it to the next candidate.
    offer_unanswered_minutes: float = Field(default=10.0, gt=0)
    #: How long after the assignment the customer is asked whether the job was done, by urgency.
    follow_up_hours_hoy: float = Field(default=24.0, gt=0)
    follow_up_hours_1_2_dias: float = Field(default=72.0, gt=0)
    follow_up_hours_semana: float = Field(default=168.0, gt=0)
    #: A rating not given within this long closes the lead.
    rating_window_hours: float = Field(default=72.0, gt=0)
    #: How often due timers are looked for (the precision of every deadline).
    tick_seconds: float = Field(default=5.0, gt=0, le=3600)

    def durations(self) -> TimerDurations:
        return TimerDurations(
            draft_abandoned=timedelta(hours=self.draft_abandoned_hours),
            offer_unanswered=timedelta(minutes=self.offer_unanswered_minutes),
            job_window={
                Urgency.HOY: timedelta(hours=self.follow_up_hours_hoy),
                Urgency.UNO_DOS_DIAS: timedelta(hours=self.follow_up_hours_1_2_dias),
                Urgency.SEMANA: timedelta(hours=self.follow_up_hours_semana),
            },
            rating_window=timedelta(hours=self.rating_window_hours),
        )
