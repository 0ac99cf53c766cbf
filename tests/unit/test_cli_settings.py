"""`conectapro run` refuses a bad setting before it starts anything: exit 2, naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CASES = {
    "a closer timer that is not a number": (["run"], {"CLOSER_OFFER_UNANSWERED_MINUTES": "ten"}),
    "a closer tick of zero, for the closer alone": (["run", "closer"], {"CLOSER_TICK_SECONDS": "0"}),
    "a port out of range": (["run"], {"INGRESS_PORT": "70000"}),
    "a Graph API token without the number that sends": (["run", "sender"], {"WHATSAPP_ACCESS_TOKEN": "a-token"}),
}
NAMED = {
    "a closer timer that is not a number": "CLOSER_OFFER_UNANSWERED_MINUTES",
    "a closer tick of zero, for the closer alone": "CLOSER_TICK_SECONDS",
    "a port out of range": "INGRESS_PORT",
    "a Graph API token without the number that sends": "WHATSAPP_PHONE_NUMBER_ID",
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_setting_stops_run_at_once_naming_the_variable(case: str, tmp_path: Path) -> None:
    arguments, bad = CASES[case]
    unrelated = ("CLOSER_", "WHATSAPP_", "INGRESS_", "CONECTAPRO_ENV")
    env = {name: value for name, value in os.environ.items() if not name.startswith(unrelated)}
    env.update({"CONECTAPRO_DATA_DIR": str(tmp_path), **bad})

    # A run that got past its settings would start servers and never end on its own: the timeout fails it.
    done = subprocess.run(
        [sys.executable, "-m", "conectapro.cli", *arguments], env=env, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 2, done.stderr
    assert "configuration error" in done.stderr
    assert NAMED[case] in done.stderr
    assert list(tmp_path.iterdir()) == [], "nothing was started"
