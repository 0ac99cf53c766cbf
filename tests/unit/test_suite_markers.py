"""The suites select exactly: every test carries the marker of its folder, and no unit test reaches a server
(all of the suite's servers are started by the ``infra`` fixture, so a unit test must not depend on it)."""

from __future__ import annotations

import pytest

from tests.conftest import SUITES, needs_servers, suite_of


def test_every_collected_test_carries_exactly_the_marker_of_its_folder(request: pytest.FixtureRequest) -> None:
    for item in request.session.items:
        markers = {suite for suite in SUITES if item.get_closest_marker(suite) is not None}
        assert markers == {suite_of(item)}, item.nodeid


def test_no_unit_test_depends_on_the_servers(request: pytest.FixtureRequest) -> None:
    unit = [item for item in request.session.items if item.get_closest_marker("unit") is not None]
    assert request.node in unit
    assert [item.nodeid for item in unit if needs_servers(item)] == []
