"""Log lines are JSON, and never carry a secret or a whole phone number, wherever it sits in the line."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
import structlog

from infra.logging import configure_logging


@pytest.fixture
def log_line(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    configure_logging("INFO")

    def emit(**fields: object) -> dict[str, object]:
        capsys.readouterr()
        structlog.get_logger("test").info("something_happened", **fields)
        line: dict[str, object] = orjson.loads(capsys.readouterr().err.strip().splitlines()[-1])
        return line

    return emit


def test_phone_numbers_are_masked_in_strings_lists_and_nested_objects(log_line) -> None:  # type: ignore[no-untyped-def]
    line = log_line(
        sender="56912345678",
        note="escribió +56912345678 hoy",
        ids=["56987654321", "wamid.ABC"],
        contact={"wa_id": "56911112222", "name": "Camila"},
    )
    text = orjson.dumps(line).decode()
    for phone in ("56912345678", "56987654321", "56911112222"):
        assert phone not in text
    assert line["sender"] == "569*****678"
    assert line["ids"] == ["569*****321", "wamid.ABC"]
    assert line["contact"] == {"wa_id": "569*****222", "name": "Camila"}


def test_wamids_that_carry_a_phone_in_base64_are_shown_as_a_digest(log_line) -> None:  # type: ignore[no-untyped-def]
    meta = "wamid.HBgLNTY5ODc2NTQzMjEVAgASGBQzQUNMMDAw0002QUFBQkJCAA=="
    line = log_line(ids=[meta, f"{meta}:delivered", "wamid.ABCDEFGHIJ"], reason=f"failed: {meta}")
    masked = line["ids"]
    assert isinstance(masked, list)
    assert masked[0].startswith("wamid.~") and masked[1] == f"{masked[0]}:delivered"
    assert masked[2] == "wamid.ABCDEFGHIJ"
    assert "NTY5ODc2NTQzMjE" not in orjson.dumps(line).decode()
    assert line["reason"] == f"failed: {masked[0]}"


def test_values_under_secret_looking_keys_are_redacted_at_any_depth(log_line) -> None:  # type: ignore[no-untyped-def]
    line = log_line(access_token="EAAG-very-secret", headers={"Authorization": "Bearer abc", "X-Ok": "1"})
    assert line["access_token"] == "[redacted]"
    assert line["headers"] == {"Authorization": "[redacted]", "X-Ok": "1"}


def test_short_values_and_non_strings_pass_unchanged_and_anything_else_renders_as_text(log_line) -> None:  # type: ignore[no-untyped-def]
    when = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
    line = log_line(outcome="accepted", status=200, latency_ms=1.5, ok=True, missing=None, at=when, by_code={131047: 2})
    assert line["outcome"] == "accepted"
    assert (line["status"], line["latency_ms"], line["ok"], line["missing"]) == (200, 1.5, True, None)
    assert line["at"] == "2026-11-24T12:00:00+00:00"
    assert line["by_code"] == {"131047": 2}
    assert line["event"] == "something_happened" and line["level"] == "info"


def test_digits_inside_a_person_key_or_digest_are_left_alone(log_line) -> None:  # type: ignore[no-untyped-def]
    # Random hex often holds 8+ digits in a row: masking them made stream ids unsearchable.
    stream = "customer-p75a861616746f0749f71"
    line = log_line(stream=stream, digest="0123456789abcdef01", phone_then_id="56912345678-p75a861616746f0749f71")

    assert line["stream"] == stream
    assert line["digest"] == "0123456789abcdef01"
    assert line["phone_then_id"] == "569*****678-p75a861616746f0749f71"


def test_a_phone_beside_short_hex_or_as_a_long_digit_run_is_still_masked(log_line) -> None:  # type: ignore[no-untyped-def]
    line = log_line(short="ab56912345678", digits="569123456780000000000", plus="abcdef+56912345678cafe")

    assert "56912345678" not in orjson.dumps(line).decode()
