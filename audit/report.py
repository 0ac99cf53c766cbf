"""What the audit found, per stream: decisions that re-decide differently (divergences), decisions it could
not re-decide because the technicians' views they read are no longer known, and the counts of what was
audited."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Finding:
    """Something the audit found about one decision (the group of events ``first_version``–``last_version``)."""

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


@dataclass(frozen=True, slots=True)
class Divergence(Finding):
    """The decision, re-decided from what it recorded, differs from the stored events (one line per field)."""


@dataclass(frozen=True, slots=True)
class ViewsUnknown(Finding):
    """The decision was not re-decided: the technicians' views it read (at its recorded directory position)
    are no longer known to the audit. Neither a divergence nor a confirmation."""


def _decisions(n: int) -> str:
    return f"{n} decision{'s' if n > 1 else ''}"


@dataclass
class AuditReport:
    events: int = 0
    decisions: int = 0
    streams: int = 0
    divergences: dict[str, list[Divergence]] = field(default_factory=dict)
    views_unknown: dict[str, list[ViewsUnknown]] = field(default_factory=dict)
    #: Streams whose person was forgotten: their decisions were checked on everything but the forgotten values.
    forgotten: set[str] = field(default_factory=set)

    @property
    def clean(self) -> bool:
        """Every decision was re-decided, identically."""
        return not self.divergences and not self.views_unknown

    @property
    def not_re_decided(self) -> int:
        return sum(len(found) for found in self.views_unknown.values())

    def merge(self, other: AuditReport) -> AuditReport:
        """Reports of disjoint sets of streams, as one."""
        return AuditReport(
            events=self.events + other.events,
            decisions=self.decisions + other.decisions,
            streams=self.streams + other.streams,
            divergences=dict(sorted({**self.divergences, **other.divergences}.items())),
            views_unknown=dict(sorted({**self.views_unknown, **other.views_unknown}.items())),
            forgotten=self.forgotten | other.forgotten,
        )

    def render(self) -> str:
        parts = []
        for stream_id, found in self.divergences.items():
            parts.append(f"DIVERGENT {stream_id} ({_decisions(len(found))}):")
            parts.extend(divergence.render() for divergence in found)
        for stream_id, unknown in self.views_unknown.items():
            parts.append(f"VIEWS UNKNOWN {stream_id} ({_decisions(len(unknown))} not re-decided):")
            parts.extend(finding.render() for finding in unknown)
        return "\n".join(parts)
