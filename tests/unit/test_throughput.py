"""Token buckets for WhatsApp's per-number throughput and per-recipient pair rate, on a fake clock."""

from __future__ import annotations

import pytest

from outbound.throughput import ThroughputGate, ThroughputLimiter, ThroughputLimits, TokenBucket


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_bucket_starts_full_and_allows_its_capacity_at_once() -> None:
    bucket = TokenBucket(rate=2.0, capacity=3, now=0.0)
    for _ in range(3):
        assert bucket.delay(0.0) == 0
        bucket.take(0.0)
    assert bucket.delay(0.0) == pytest.approx(0.5)


def test_a_bucket_refills_at_its_rate_and_never_beyond_capacity() -> None:
    bucket = TokenBucket(rate=2.0, capacity=3, now=0.0)
    for _ in range(3):
        bucket.take(0.0)
    assert bucket.available(0.25) == pytest.approx(0.5)
    assert bucket.available(100.0) == 3


def test_taking_without_a_token_is_refused() -> None:
    bucket = TokenBucket(rate=1.0, capacity=1, now=0.0)
    bucket.take(0.0)
    with pytest.raises(ValueError):
        bucket.take(0.5)


def test_a_clock_stepping_back_mints_no_tokens() -> None:
    bucket = TokenBucket(rate=1.0, capacity=2, now=10.0)
    bucket.take(10.0)
    bucket.take(10.0)
    assert bucket.available(5.0) == 0
    assert bucket.available(10.5) == pytest.approx(0.5)


def test_the_number_limit_allows_one_seconds_worth_then_paces() -> None:
    gate = ThroughputGate(ThroughputLimits(messages_per_second=80, pair_burst=1), now=0.0)
    for i in range(80):
        assert gate.try_acquire(f"5691{i:07d}", 0.0) == 0  # different recipients: only the number limit
    assert gate.try_acquire("56900000001", 0.0) == pytest.approx(1 / 80)
    assert gate.try_acquire("56900000001", 1 / 80) == 0


def test_one_recipient_gets_a_short_burst_then_one_message_per_interval() -> None:
    gate = ThroughputGate(ThroughputLimits(pair_interval_seconds=6.0, pair_burst=3), now=0.0)
    assert [gate.try_acquire("56912345678", 0.0) for _ in range(3)] == [0, 0, 0]
    assert gate.try_acquire("56912345678", 0.0) == pytest.approx(6.0)
    assert gate.try_acquire("56912345678", 5.9) == pytest.approx(0.1)
    assert gate.try_acquire("56912345678", 6.0) == 0
    assert gate.try_acquire("56912345678", 6.0) == pytest.approx(6.0)


def test_a_recipient_waiting_on_its_pair_limit_does_not_hold_back_others() -> None:
    gate = ThroughputGate(ThroughputLimits(messages_per_second=1, pair_burst=1), now=0.0)
    assert gate.try_acquire("56911111111", 0.0) == 0
    assert gate.try_acquire("56911111111", 1.0) > 0  # pair-limited: no number token taken...
    assert gate.try_acquire("56922222222", 1.0) == 0  # ...so the next user's message goes at once


def test_a_refused_attempt_takes_nothing() -> None:
    gate = ThroughputGate(ThroughputLimits(messages_per_second=1, number_burst=1, pair_burst=5), now=0.0)
    assert gate.try_acquire("a", 0.0) == 0
    for _ in range(10):
        assert gate.try_acquire("a", 0.5) == pytest.approx(0.5)
    assert gate.try_acquire("a", 1.0) == 0


def test_idle_recipients_are_forgotten_so_memory_stays_bounded() -> None:
    gate = ThroughputGate(ThroughputLimits(pair_interval_seconds=1.0, pair_burst=1, messages_per_second=1e6),
                          now=0.0, sweep_above=100)  # fmt: skip
    for i in range(100):
        gate.try_acquire(f"old{i}", 0.0)
    assert gate.tracked_recipients == 100
    gate.try_acquire("new", 10.0)  # every old bucket is full again by now: indistinguishable from new ones
    assert gate.tracked_recipients == 1


def test_recently_messaged_recipients_are_kept_by_the_sweep() -> None:
    gate = ThroughputGate(ThroughputLimits(pair_interval_seconds=6.0, pair_burst=1, messages_per_second=1e6),
                          now=0.0, sweep_above=10)  # fmt: skip
    for i in range(11):
        gate.try_acquire(f"user{i}", 0.0)
    assert gate.tracked_recipients == 11  # none full yet: forgetting them would reset their pair limit
    assert gate.try_acquire("user0", 1.0) > 0


@pytest.mark.parametrize(
    "limits",
    [
        {"messages_per_second": 0},
        {"pair_interval_seconds": 0},
        {"pair_burst": 0},
        {"number_burst": 0.5},
    ],
)
def test_nonsensical_limits_are_refused(limits: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ThroughputLimits(**limits)  # type: ignore[arg-type]


async def test_the_async_limiter_sleeps_exactly_as_long_as_the_gate_says() -> None:
    clock = FakeClock()
    limiter = ThroughputLimiter(ThroughputLimits(pair_interval_seconds=6.0, pair_burst=2), clock=clock,
                                sleep=clock.sleep)  # fmt: skip
    assert await limiter.acquire("56912345678") == 0
    assert await limiter.acquire("56912345678") == 0
    waited = await limiter.acquire("56912345678")
    assert waited == pytest.approx(6.0)
    assert clock.sleeps == [pytest.approx(6.0)]
    assert await limiter.acquire("56987654321") == 0  # another user is not affected


async def test_the_async_limiter_paces_a_burst_to_the_number_rate() -> None:
    clock = FakeClock()
    limiter = ThroughputLimiter(ThroughputLimits(messages_per_second=10, number_burst=1), clock=clock,
                                sleep=clock.sleep)  # fmt: skip
    start = clock.now
    for i in range(5):
        await limiter.acquire(f"user{i}")
    assert clock.now - start == pytest.approx(0.4)
