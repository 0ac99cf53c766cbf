"""Failed console logins, counted per name and per client address: too many, and logins wait.

Kept in the process's memory (one operator API process per deployment); a restart forgets the counts,
which only gives a guesser a few more tries per restart.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import datetime, timedelta


class LoginLimiter:
    def __init__(self, *, max_failures: int = 5, window: timedelta = timedelta(minutes=15)) -> None:
        self._max = max_failures
        self._window = window
        self._failures: dict[str, deque[datetime]] = {}

    def retry_after(self, keys: Iterable[str], now: datetime) -> timedelta | None:
        """How long until any of ``keys`` may try again; None when none is blocked."""
        waits = [wait for key in keys if (wait := self._wait(key, now)) is not None]
        return max(waits) if waits else None

    def failed(self, keys: Iterable[str], now: datetime) -> None:
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)
            self._expire(key, now)

    def succeeded(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)

    def _wait(self, key: str, now: datetime) -> timedelta | None:
        self._expire(key, now)
        failures = self._failures.get(key)
        if failures is None or len(failures) < self._max:
            return None
        return failures[-self._max] + self._window - now

    def _expire(self, key: str, now: datetime) -> None:
        failures = self._failures.get(key)
        if failures is None:
            return
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        if not failures:
            del self._failures[key]
