"""CPU time used by benchmarked processes, read from /proc.

On a 2-core machine shared by the load generator and the servers, wall-clock rates move with whatever
else runs; CPU milliseconds per request of each process move much less, and tell which process bounds
the rate (1,000 / ms-per-request is the rate one core could sustain for that process alone).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the ")" that ends the command name: field 14 (utime) and 15 (stime) are at offsets 11 and 12.
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _cpu_or_none(pid: int) -> float | None:
    try:
        return cpu_seconds(pid)
    except (FileNotFoundError, ProcessLookupError):
        return None  # a process that ended meanwhile (a database backend) is left out of the sum


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "children").read_text().split()
        except FileNotFoundError:
            continue  # a thread that ended between the listing and the read
        found += [int(child) for child in text]
    return found


def command_name(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


@dataclass
class CpuMeter:
    """Snapshot the CPU of named processes; ``since`` gives the seconds each used after the snapshot."""

    pids: dict[str, list[int]]

    def __post_init__(self) -> None:
        self._start = {pid: _cpu_or_none(pid) for pids in self.pids.values() for pid in pids}

    def since(self) -> dict[str, float]:
        used = {}
        for name, pids in self.pids.items():
            total = 0.0
            for pid in pids:
                start, now = self._start[pid], _cpu_or_none(pid)
                if start is not None and now is not None:
                    total += now - start
            used[name] = total
        return used

    def restart(self) -> None:
        self.__post_init__()


def per_request_line(used: dict[str, float], requests: int) -> str:
    parts = [f"{name} {used[name] * 1000 / requests:5.2f} ms" for name in sorted(used)]
    return "CPU per request: " + ", ".join(parts)
