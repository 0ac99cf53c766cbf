"""A webhook holding lone surrogates (JSON escapes of half a UTF-16 pair) is read, not parked: every field
gets U+FFFD, the raw payload keeps the escapes, and the envelope survives publishing and reading back."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.inbound import InboundMessage, InboundStatus, dump_envelope, normalize, parse_envelope
from contracts.lone_surrogates import REPLACEMENT, without_lone_surrogates
from contracts.whatsapp import WebhookPayload
from ingress.webhook import _json_of
from tests.whatsapp_builders import text_message

_LONE = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])
_TEXT = st.lists(st.one_of(st.characters(codec="utf-8"), _LONE), max_size=40).map("".join)


def _body(payload: dict[str, object]) -> bytes:
    # What Meta's JSON encoder writes for a lone surrogate: its escape (no UTF-8 can hold it).
    return json.dumps(payload).encode()


def _envelopes(body: bytes) -> list[object]:
    return list(normalize(WebhookPayload.model_validate(_json_of(body))))


@given(text=_TEXT, name=_TEXT)
def test_every_field_gets_the_replacement_character_and_raw_keeps_the_original(text: str, name: str) -> None:
    payload = text_message("wamid.S\udc01", "56911112222", text, name=name)

    [message] = _envelopes(_body(payload))

    assert isinstance(message, InboundMessage)
    for value in (message.text, message.sender_name, message.wamid):
        assert value is not None
        value.encode("utf-8")  # storable
    assert message.wamid == f"wamid.S{REPLACEMENT}"
    # Two halves in a row are a pair in JSON: one character, as any reader of the body sees it.
    assert message.raw["text"]["body"] == json.loads(json.dumps(text))
    assert message.raw["id"] == "wamid.S\udc01"


def test_a_key_with_a_lone_surrogate_gets_the_replacement_character_even_in_raw() -> None:
    payload = text_message("wamid.K", "56911112222", "hola")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["x\ud800"] = "y\ud800"

    [message] = _envelopes(_body(payload))

    assert isinstance(message, InboundMessage)
    assert message.raw[f"x{REPLACEMENT}"] == "y\ud800"


@given(text=_TEXT)
def test_the_envelope_is_published_with_the_escapes_and_read_back_whole(text: str) -> None:
    [message] = _envelopes(_body(text_message("wamid.R", "56911112222", text)))

    published = dump_envelope(message)  # type: ignore[arg-type]

    assert parse_envelope(published) == message
    assert parse_envelope(published.decode()) == message


def test_the_body_of_the_issue_is_answered_not_parked() -> None:
    body = b'{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{'
    body += b'"metadata":{"phone_number_id":"1"},"messages":[{"from":"56911112222","id":"wamid.I","type":"text",'
    body += b'"text":{"body":"hola \\ud800 necesito gasfiter"}}]}}]}]}'

    [message] = _envelopes(body)

    assert isinstance(message, InboundMessage)
    assert message.text == f"hola {REPLACEMENT} necesito gasfiter"
    assert b'"body":"hola \\ud800 necesito gasfiter"' in dump_envelope(message)


def test_a_status_with_a_lone_surrogate_in_its_error_is_storable() -> None:
    payload = text_message("wamid.X", "56911112222", "x")
    value = payload["entry"][0]["changes"][0]["value"]
    del value["messages"]
    error = {"code": 1, "title": "a\ud800"}
    value["statuses"] = [{"id": "wamid.OUT", "status": "failed", "recipient_id": "56911112222", "errors": [error]}]

    [status] = _envelopes(_body(payload))

    assert isinstance(status, InboundStatus)
    assert status.errors[0].title == f"a{REPLACEMENT}"
    assert parse_envelope(dump_envelope(status)) == status


@pytest.mark.parametrize(
    "body",
    [
        b'{"x": "\\ud800", "y": NaN}',  # the lenient reader is as strict as orjson about the rest
        b'{"x": "\\ud800"',
        b"[" * 5000 + b'"\\ud800"' + b"]" * 5000,
    ],
)
def test_a_body_that_is_not_json_anyway_still_fails_as_orjson_says(body: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        _json_of(body)


def test_an_object_without_lone_surrogates_is_returned_as_it_is() -> None:
    value = {"a": ["b", {"c": "😀"}], "d": 1}
    assert without_lone_surrogates(value) is value
    two_keys = dict([("a\ud800", 1), ("a\udfff", 2)])
    assert without_lone_surrogates(two_keys) == {f"a{REPLACEMENT}": 2}
