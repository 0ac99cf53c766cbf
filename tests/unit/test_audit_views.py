"""When the audit no longer holds the technicians' views a decision read, it says so: a finding of its own,
neither a divergence nor a re-decision on other views."""

from __future__ import annotations

import pytest

from audit.engine import audit_events
from audit.report import AuditReport, Divergence, ViewsUnknown
from contracts.commands import TimeoutOffer
from contracts.events import RecordedEvent
from tests.unit.audit_support import CAMILA, PEDRO, World, customer_key, customer_stream, offered_to_juana

LEAD = f"{customer_key(CAMILA)}.1"


async def timer_on_a_lagging_directory(newcomers: int) -> list[RecordedEvent]:
    """Juana's offer times out, decided on a directory that has not seen ``newcomers`` registrations; then
    Pedro, offered the lead next, accepts."""
    world = World()
    juana, _ = await offered_to_juana(world)
    await world.directory.catch_up()
    for n in range(newcomers):
        await world.register(f"Técnico {n}", f"5695555{n:04d}", comunas=("Maipú",))
    world.advance(minutes=11)
    await world.commands.handle(TimeoutOffer(command_id="timeout", customer_key=customer_key(CAMILA), lead_id=LEAD,
                                             provider_id=juana))  # fmt: skip
    await world.taps(PEDRO, f"offer:accept:{LEAD}", "Aceptar")
    return await world.events()


async def test_a_decision_whose_views_are_no_longer_kept_is_reported_as_such_and_not_re_decided() -> None:
    events = await timer_on_a_lagging_directory(newcomers=5)
    assert audit_events(events).clean  # every version of the views kept: re-decided exactly

    report = audit_events(events, view_history=2)  # only the last 2-4 versions kept

    assert not report.clean
    assert not report.divergences  # and Pedro's acceptance, after it, re-decides identically
    [(stream_id, [finding])] = report.views_unknown.items()
    assert stream_id == customer_stream(CAMILA)
    assert finding.cause == "timeout"
    assert "the technicians' views at its directory position" in finding.lines[0]
    assert "are no longer known" in finding.lines[0]
    assert report.not_re_decided == 1
    assert f"VIEWS UNKNOWN {customer_stream(CAMILA)} (1 decision not re-decided):" in report.render()
    assert report.decisions == audit_events(events).decisions  # still counted as looked at


@pytest.mark.parametrize("decided_by", ["timeout", "register-"])
async def test_a_recorded_directory_position_after_the_decision_itself_is_reported(decided_by: str) -> None:
    events = await timer_on_a_lagging_directory(newcomers=0)
    i = next(i for i, e in enumerate(events) if e.metadata.correlation_id.startswith(decided_by))
    metadata = {**events[i].metadata.model_dump(mode="json"), "providers_checkpoint": [10**9, 10**9]}
    altered = [*events[:i], RecordedEvent.model_validate({**events[i].model_dump(), "metadata": metadata}),
               *events[i + 1 :]]  # fmt: skip

    report = audit_events(altered)

    assert not report.divergences
    [[finding]] = report.views_unknown.values()
    assert finding.first_version == events[i].stream_version
    assert "its recorded directory position (1000000000, 1000000000) is not before it" in finding.lines[0]


def test_reports_of_two_shares_keep_both_kinds_of_finding() -> None:
    one = AuditReport(divergences={"customer-a": [Divergence("customer-a", 1, 2, "c", "w", "t", ("x",))]})
    two = AuditReport(views_unknown={"customer-b": [ViewsUnknown("customer-b", 1, 2, "c", "w", "t", ("y",))]})
    merged = one.merge(two)
    assert list(merged.divergences) == ["customer-a"] and list(merged.views_unknown) == ["customer-b"]
    assert merged.render().index("DIVERGENT customer-a") < merged.render().index("VIEWS UNKNOWN customer-b")
