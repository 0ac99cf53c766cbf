"""Cost control: a daily token budget and a per-customer cap on calls per hour; past either, rules alone.

The counts live in a ledger: the service's is shared by every replica of the queue group (a JetStream
key-value bucket, ``llm_adapter.shared_ledger``), so the budget and the caps hold for the whole deployment
however many replicas answer; one process alone (the command line, a test) may keep them in memory. The day
is Chile's (America/Santiago), as operators read it; the hour is the wall clock's, which replicas share.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from contracts.llm import NoResultReason

SANTIAGO = ZoneInfo("America/Santiago")
HOUR = 3600.0


class CostLedger(Protocol):
    async def tokens_spent(self, day: str) -> int:
        """Tokens spent on ``day`` (ISO date), by every caller together."""
        ...

    async def spend_tokens(self, day: str, tokens: int) -> None: ...

    async def take_call(self, customer: str, now: float, per_hour: int) -> bool:
        """Count a call of ``customer`` at ``now`` (epoch seconds) if fewer than ``per_hour`` were counted in
        the hour before it; False (nothing counted) otherwise. Atomic against other callers."""
        ...


class CostControl:
    def __init__(
        self,
        daily_token_budget: int,
        customer_calls_per_hour: int,
        ledger: CostLedger,
        wall_clock: Callable[[], datetime],
    ) -> None:
        self._daily_budget = daily_token_budget
        self._per_hour = customer_calls_per_hour
        self._ledger = ledger
        self._wall_clock = wall_clock
        #: Calls this process let out (the ledger counts every replica's).
        self.calls_let_out = 0

    async def refusal(self, customer_ref: str) -> NoResultReason | None:
        """Why this call must not go out, or None; a call that may go out is counted for the customer."""
        now = self._wall_clock()
        if await self._ledger.tokens_spent(_day(now)) >= self._daily_budget:
            return NoResultReason.DAILY_TOKEN_BUDGET
        if not await self._ledger.take_call(customer_ref, now.timestamp(), self._per_hour):
            return NoResultReason.CUSTOMER_HOURLY_CAP
        self.calls_let_out += 1
        return None

    async def spend(self, tokens: int) -> None:
        if tokens:
            await self._ledger.spend_tokens(_day(self._wall_clock()), tokens)


def _day(now: datetime) -> str:
    return now.astimezone(SANTIAGO).date().isoformat()


class ProcessLedger:
    """The counts of one process, in memory: for a process that is the only caller."""

    def __init__(self) -> None:
        self._tokens: dict[str, int] = {}
        self._calls: dict[str, list[float]] = {}

    async def tokens_spent(self, day: str) -> int:
        return self._tokens.get(day, 0)

    async def spend_tokens(self, day: str, tokens: int) -> None:
        # One day kept: the budget is a day's.
        self._tokens = {day: self._tokens.get(day, 0) + tokens}

    async def take_call(self, customer: str, now: float, per_hour: int) -> bool:
        calls = recent_calls(self._calls.get(customer, []), now)
        taken = len(calls) < per_hour
        self._calls[customer] = [*calls, now] if taken else calls
        if len(self._calls) >= 10_000:  # bounded memory: forget customers idle for an hour
            self._calls = {ref: c for ref, c in self._calls.items() if recent_calls(c, now)}
        return taken


def recent_calls(calls: list[float], now: float) -> list[float]:
    """The calls of the hour before ``now``."""
    return [at for at in calls if now - at < HOUR]
