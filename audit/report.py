"""What the audit found: divergent decisions per stream, and the counts of what was audited."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Divergence:
    stream_id: str
    first_version: int
    last_version: int
    cause: str
    what: str
    recorded_at: str
    lines: tuple[str, ...]

    def render(self) -> str:
        head = (
            f"  v{self.first_version}–v{self.last_version} · {self.what} · caused by {self.cause} "
            f"· decided at {self.recorded_at}"
        )
        return "\n".join([head, *(f"      {line}" for line in self.lines)])


@dataclass
class AuditReport:
    events: int = 0
    decisions: int = 0
    streams: int = 0
    divergences: dict[str, list[Divergence]] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.divergences

    def merge(self, other: AuditReport) -> AuditReport:
        """Reports of disjoint sets of streams, as one."""
        divergences = {**self.divergences, **other.divergences}
        return AuditReport(
            events=self.events + other.events,
            decisions=self.decisions + other.decisions,
            streams=self.streams + other.streams,
            divergences=dict(sorted(divergences.items())),
        )

    def render(self) -> str:
        parts = []
        for stream_id, found in self.divergences.items():
            parts.append(f"DIVERGENT {stream_id} ({len(found)} decision{'s' if len(found) > 1 else ''}):")
            parts.extend(divergence.render() for divergence in found)
        return "\n".join(parts)
