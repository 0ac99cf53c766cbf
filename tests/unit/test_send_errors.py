"""Which WhatsApp send failures are worth retrying, and how long to wait first."""

from __future__ import annotations

import pytest

from outbound.send_errors import (
    FailureKind,
    classify,
    classify_response,
    parse_graph_error,
    parse_retry_after,
    transport_failure,
)


def graph_error(code: int | str, details: str = "", message: str = "", subcode: int | None = None) -> dict[str, object]:
    error: dict[str, object] = {
        "message": message or f"(#{code}) Some title",
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEf123",
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (429, 130429),  # throughput
        (400, 130429),  # Meta sends most rate limits as HTTP 400: the code decides, not the status
        (400, 131056),  # pair rate limit
        (500, 131000),  # generic "something went wrong"
        (400, 4),  # app call rate limit
        (400, 80007),  # WABA rate limit
        (503, 2),  # service temporarily unavailable
        (400, 1),  # unknown, possibly server error
        (400, 131057),  # maintenance mode
    ],
)
def test_rate_limits_and_server_trouble_are_transient(status: int, code: int) -> None:
    failure = classify(status, code)
    assert failure.kind is FailureKind.TRANSIENT
    assert failure.retryable
    assert failure.min_backoff > 0


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, 131047),  # outside the 24-hour window
        (400, 131026),  # undeliverable
        (400, 131048),  # spam rate limit: a quality restriction, retrying makes it worse
        (400, 131049),  # per-user marketing limit
        (400, 131008),  # required parameter missing
        (400, 131009),  # parameter value not valid
        (400, 100),  # invalid parameter
        (401, 190),  # token expired
        (403, 368),  # blocked for policy violations
        (400, 131051),  # unsupported message type
        (400, 132001),  # template does not exist
        (403, 200),  # API permission
        (500, 131047),  # even with a 5xx status, a known permanent code stays permanent
    ],
)
def test_refusals_that_retrying_cannot_fix_are_permanent(status: int, code: int) -> None:
    failure = classify(status, code)
    assert failure.kind is FailureKind.PERMANENT
    assert not failure.retryable
    assert failure.min_backoff == 0


def test_the_pair_rate_limit_waits_longer_than_the_throughput_limit() -> None:
    pair = classify(400, 131056)
    throughput = classify(400, 130429)
    assert pair.min_backoff >= 6.0
    assert pair.min_backoff > throughput.min_backoff


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (429, FailureKind.TRANSIENT),
        (500, FailureKind.TRANSIENT),
        (502, FailureKind.TRANSIENT),
        (503, FailureKind.TRANSIENT),
        (408, FailureKind.TRANSIENT),
        (400, FailureKind.PERMANENT),
        (401, FailureKind.PERMANENT),
        (404, FailureKind.PERMANENT),
    ],
)
def test_without_a_known_code_the_http_status_decides(status: int, expected: FailureKind) -> None:
    assert classify(status).kind is expected
    assert classify(status, 999_999).kind is expected


def test_a_network_failure_is_transient_without_a_code() -> None:
    failure = transport_failure("ConnectError: connection refused")
    assert failure.kind is FailureKind.TRANSIENT
    assert failure.code is None
    assert failure.http_status is None
    assert "connection refused" in failure.details


def test_a_request_that_cannot_be_built_is_permanent() -> None:
    failure = transport_failure("UnsupportedProtocol: ftp://", retryable=False)
    assert failure.kind is FailureKind.PERMANENT


def test_a_graph_error_body_gives_code_details_subcode_and_trace() -> None:
    body = graph_error(
        131047,
        details="Message failed to send because more than 24 hours have passed since the customer last replied",
        message="(#131047) Re-engagement message",
        subcode=2494010,
    )
    failure = classify_response(400, body)
    assert failure.kind is FailureKind.PERMANENT
    assert failure.code == 131047
    assert failure.subcode == 2494010
    assert failure.fbtrace_id == "AbCdEf123"
    assert failure.details.startswith("Message failed to send because more than 24 hours")
    assert failure.title == "re-engagement required (outside the 24-hour window)"
    assert failure.reason.startswith("131047 re-engagement required")
    assert failure.http_status == 400


def test_without_error_data_the_message_without_its_code_prefix_is_the_detail() -> None:
    failure = classify_response(400, graph_error(100, message="(#100) The parameter to is required."))
    assert failure.code == 100
    assert failure.details == "The parameter to is required."


def test_a_code_sent_as_a_string_is_still_read() -> None:
    assert classify_response(400, graph_error("131056")).code == 131056


def test_error_data_as_a_plain_string_is_the_detail() -> None:
    body = {"error": {"message": "(#132000) x", "code": 132000, "error_data": "Number of parameters does not match"}}
    graph = parse_graph_error(body)
    assert graph is not None
    assert graph.details == "Number of parameters does not match"


def test_a_non_graph_body_falls_back_on_the_status() -> None:
    failure = classify_response(502, "<html><body>Bad Gateway</body></html>")
    assert failure.kind is FailureKind.TRANSIENT
    assert failure.code is None
    assert "Bad Gateway" in failure.details


def test_a_huge_error_body_is_shortened_for_events_and_logs() -> None:
    failure = classify_response(503, "x" * 10_000)
    assert len(failure.details) <= 300


def test_retry_after_only_ever_lengthens_the_minimum_backoff() -> None:
    assert classify(429, retry_after=30).min_backoff == 30
    assert classify(400, 131056, retry_after=1).min_backoff == 6.0
    assert classify(400, 131047, retry_after=30).min_backoff == 0  # permanent: no backoff at all


@pytest.mark.parametrize(
    ("header", "seconds"), [("5", 5.0), (" 2.5 ", 2.5), (None, None), ("soon", None), ("-1", None)]
)
def test_retry_after_header_parsing(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


@pytest.mark.parametrize("body", [None, [], "text", {"error": "string"}, {"data": {}}])
def test_bodies_without_an_error_object_are_not_graph_errors(body: object) -> None:
    assert parse_graph_error(body) is None
