"""Cost control: a daily token budget and a per-customer cap on calls per hour; past either, rules alone.

Counts are kept per adapter process: with several replicas in the queue group, give each its share of the
daily budget (the setting is per replica). The day is Chile's (America/Santiago), as operators read it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from contracts.llm import NoResultReason

SANTIAGO = ZoneInfo("America/Santiago")
HOUR = 3600.0


class CostControl:
    def __init__(
        self,
        daily_token_budget: int,
        customer_calls_per_hour: int,
        wall_clock: Callable[[], datetime],
        monotonic: Callable[[], float],
    ) -> None:
        self._daily_budget = daily_token_budget
        self._per_hour = customer_calls_per_hour
        self._wall_clock = wall_clock
        self._monotonic = monotonic
        self._day: date | None = None
        self._tokens_today = 0
        self._calls: dict[str, deque[float]] = {}

    @property
    def tokens_today(self) -> int:
        self._roll_day()
        return self._tokens_today

    def calls_this_hour(self) -> int:
        """Calls let out in the last hour, every customer together."""
        now = self._monotonic()
        return sum(1 for calls in self._calls.values() for at in calls if now - at < HOUR)

    def refusal(self, customer_ref: str) -> NoResultReason | None:
        """Why this call must not go out, or None; a call that may go out is counted for the customer."""
        if self.tokens_today >= self._daily_budget:
            return NoResultReason.DAILY_TOKEN_BUDGET
        now = self._monotonic()
        calls = self._calls.setdefault(customer_ref, deque())
        while calls and now - calls[0] >= HOUR:
            calls.popleft()
        if len(calls) >= self._per_hour:
            return NoResultReason.CUSTOMER_HOURLY_CAP
        calls.append(now)
        self._forget_idle_customers(now)
        return None

    def spend(self, tokens: int) -> None:
        self._roll_day()
        self._tokens_today += tokens

    def _roll_day(self) -> None:
        today = self._wall_clock().astimezone(SANTIAGO).date()
        if today != self._day:
            self._day = today
            self._tokens_today = 0

    def _forget_idle_customers(self, now: float) -> None:
        # Bounded memory: every so often, drop customers whose last call is over an hour old.
        if len(self._calls) < 10_000:
            return
        for ref in [ref for ref, calls in self._calls.items() if not calls or now - calls[-1] >= HOUR]:
            del self._calls[ref]
