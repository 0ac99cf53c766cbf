"""The AsyncAPI document of every NATS subject is generated from the code, committed, and complete."""

from __future__ import annotations

import json

from conectapro.asyncapi import document_text
from contracts import subjects
from tests.fixtures_paths import REPO_ROOT as REPO

COMMITTED = REPO / "docs" / "asyncapi" / "conectapro.json"


def test_the_committed_document_is_the_one_the_code_generates() -> None:
    assert COMMITTED.read_text() == document_text(), (
        "regenerate: python -m conectapro.asyncapi > docs/asyncapi/conectapro.json"
    )


def test_every_subject_the_contracts_name_has_a_channel_with_its_payload() -> None:
    document = json.loads(document_text())
    addresses = [channel["address"] for channel in document["channels"].values()]
    named = [
        value
        for name, value in vars(subjects).items()
        if isinstance(value, str)
        and name.isupper()
        and (name.endswith(("_SUBJECT", "_SUBJECT_PREFIX")) or name.startswith("DEADLETTER_"))
        and not name.endswith(("_STREAM", "_SUBJECTS"))
    ]
    assert len(named) >= 9
    for subject in named:
        assert any(a == subject or a.startswith(f"{subject}.") for a in addresses), subject
    for message in document["components"]["messages"].values():
        assert "payload" in message, message["title"]
