"""Garbage-collector settings, all of them: for long-running services, and for the batch jobs (audit,
projection rebuild) that allocate many objects and make almost no reference cycles.

With the default thresholds the cyclic collector keeps re-scanning a heap that is mostly live objects
(imported modules, cached rows, decoded events) and takes a large share of the CPU for nothing: these
settings let it run far less often. ``make bench`` measures the services and jobs as they run with them.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

#: Services and the audit: many short-lived models per message or event.
SERVICE_THRESHOLDS = (20_000, 20, 20)
#: A projection rebuild keeps hundreds of thousands of objects alive until it commits.
REBUILD_THRESHOLDS = (100_000, 50, 100)


def tune_for_service() -> None:
    """For the rest of the process: everything imported so far lives for the whole process, so keep the
    collector from rescanning it, and let it run less often."""
    gc.freeze()
    gc.set_threshold(*SERVICE_THRESHOLDS)


@contextlib.contextmanager
def collecting_less(thresholds: tuple[int, int, int] = SERVICE_THRESHOLDS) -> Iterator[None]:
    """The collector runs at ``thresholds`` while the block runs; the previous ones are restored after.

    Nothing is frozen here: unfreezing on the way out would also release what the process froze before."""
    before = gc.get_threshold()
    gc.set_threshold(*thresholds)
    try:
        yield
    finally:
        gc.set_threshold(*before)
