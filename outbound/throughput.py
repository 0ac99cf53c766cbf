"""Pacing outbound sends under WhatsApp's limits, before Meta has to refuse them.

Two limits apply to every send (Meta's throughput documentation):

- **per business number**: 80 messages/s by default (higher tiers exist, coexistence numbers get 20);
  going over it returns error 130429;
- **per recipient ("pair rate")**: about one message every 6 s from one business number to one user;
  short bursts are tolerated but the average must hold, or error 131056 follows.

Both are token buckets. :class:`ThroughputGate` is pure (the caller passes ``now``) so the arithmetic is
unit-tested with a fake clock; :class:`ThroughputLimiter` is the thin async wrapper that sleeps. A send
takes one token from each bucket, and only when both have one, so a recipient waiting out its pair
limit never holds back the number's budget for everybody else.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


class TokenBucket:
    """``capacity`` tokens at most, refilled continuously at ``rate`` tokens per second. Starts full."""

    __slots__ = ("_tokens", "_updated_at", "capacity", "rate")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("a token bucket needs rate > 0 and capacity >= 1")
        self.rate = rate
        self.capacity = capacity
        self._tokens = capacity
        self._updated_at = now

    def _refill(self, now: float) -> None:
        # A clock that steps back (it should not: callers pass a monotonic one) must not mint tokens.
        elapsed = max(0.0, now - self._updated_at)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._updated_at = max(self._updated_at, now)

    def available(self, now: float) -> float:
        self._refill(now)
        return self._tokens

    def delay(self, now: float, tokens: float = 1.0) -> float:
        """Seconds until ``tokens`` are available; 0.0 when they already are. Takes nothing."""
        missing = tokens - self.available(now)
        return 0.0 if missing <= 0 else missing / self.rate

    def take(self, now: float, tokens: float = 1.0) -> None:
        if self.delay(now, tokens) > 0:
            raise ValueError("not enough tokens: check delay() first")
        self._tokens -= tokens

    def is_full(self, now: float) -> bool:
        return self.available(now) >= self.capacity


@dataclass(frozen=True)
class ThroughputLimits:
    #: Sustained sends per second for one business phone number (Meta's default is 80).
    messages_per_second: float = 80.0
    #: Sends allowed at once after an idle spell; defaults to one second's worth.
    number_burst: float | None = None
    #: Sustained spacing between two messages to the same user (Meta's guidance: about 6 s).
    pair_interval_seconds: float = 6.0
    #: Messages to one user allowed back to back before the spacing applies: a reply often comes in two
    #: or three parts (an acknowledgement, then a question with buttons), and those must not wait 6 s each.
    pair_burst: int = 3

    def __post_init__(self) -> None:
        if self.messages_per_second <= 0 or self.pair_interval_seconds <= 0 or self.pair_burst < 1:
            raise ValueError("throughput limits must be positive")
        if self.number_burst is not None and self.number_burst < 1:
            raise ValueError("number_burst must be at least 1")


class ThroughputGate:
    """The pure decision: may a message to ``recipient`` go now, and if not, how long until it may?"""

    def __init__(self, limits: ThroughputLimits, now: float, *, sweep_above: int = 4096) -> None:
        self.limits = limits
        burst = limits.number_burst if limits.number_burst is not None else max(1.0, limits.messages_per_second)
        self._number = TokenBucket(limits.messages_per_second, burst, now)
        self._pairs: dict[str, TokenBucket] = {}
        self._sweep_above = sweep_above
        self._min_sweep = sweep_above

    def try_acquire(self, recipient: str, now: float) -> float:
        """0.0 and one token taken from both buckets, or the seconds to wait (nothing taken)."""
        pair = self._pairs.get(recipient)
        if pair is None:
            self._maybe_sweep(now)  # before adding: a new bucket is full and would be swept at once
            pair = TokenBucket(1.0 / self.limits.pair_interval_seconds, self.limits.pair_burst, now)
            self._pairs[recipient] = pair
        wait = max(self._number.delay(now), pair.delay(now))
        if wait > 0:
            return wait
        self._number.take(now)
        pair.take(now)
        return 0.0

    @property
    def tracked_recipients(self) -> int:
        return len(self._pairs)

    def _maybe_sweep(self, now: float) -> None:
        # A full bucket is indistinguishable from a new one, so forgetting it is free; this keeps memory
        # proportional to recently messaged users. The threshold doubles with what survives, so sweeps
        # stay amortised O(1) per send.
        if len(self._pairs) < self._sweep_above:
            return
        self._pairs = {who: bucket for who, bucket in self._pairs.items() if not bucket.is_full(now)}
        self._sweep_above = max(self._min_sweep, 2 * len(self._pairs))


class ThroughputLimiter:
    """Async wrapper: ``await limiter.acquire(to)`` returns once a send to ``to`` is within both limits."""

    def __init__(
        self,
        limits: ThroughputLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self.gate = ThroughputGate(limits or ThroughputLimits(), clock())

    async def acquire(self, recipient: str) -> float:
        """Wait for a slot and take it; returns the seconds spent waiting."""
        waited = 0.0
        while True:
            # Check-and-take has no await in between, so concurrent senders on one loop cannot both
            # take the last token.
            wait = self.gate.try_acquire(recipient, self._clock())
            if wait <= 0:
                return waited
            await self._sleep(wait)
            waited += wait
