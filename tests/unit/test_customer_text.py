"""The normaliser of what customers type: properties over hostile strings, and the envelope that applies it."""

from __future__ import annotations

import itertools
import unicodedata

import orjson
from hypothesis import given
from hypothesis import strategies as st

from contracts.customer_text import MAX_TEXT_CHARS, normalise_text
from contracts.inbound import InboundError, InboundMessage, InboundStatus, dump_envelope, normalize, parse_envelope
from contracts.whatsapp import WebhookPayload
from tests.whatsapp_builders import statuses, text_message

#: What a hostile or odd client sends: controls, lone surrogates, bidi overrides, combining marks, emoji.
_ODD = st.sampled_from(
    [
        "\x00", "\x01", "\x1b", "\x7f", "\x85", "\x9f", "\r", "\r\n", "\t", "\n", "\u202e", "\u200f", "\ufeff",
        "\ud800", "\udfff", "e\u0301", "n\u0303", "\u0958", "\u1100\u1161", "👩‍🔧", "🇨🇱", "\U0010ffff",
    ]
)  # fmt: skip
_HOSTILE = st.lists(st.one_of(st.characters(), _ODD), max_size=60).map("".join)


def _unwanted(ch: str) -> bool:
    code = ord(ch)
    control = (code < 0x20 or 0x7F <= code < 0xA0) and ch not in "\t\n"
    return control or 0xD800 <= code < 0xE000


@given(_HOSTILE, st.integers(min_value=1, max_value=80))
def test_the_result_holds_no_control_no_surrogate_is_nfc_and_within_the_limit(raw: str, limit: int) -> None:
    result = normalise_text(raw, limit)

    assert not any(_unwanted(ch) for ch in result.text)
    assert unicodedata.is_normalized("NFC", result.text)
    assert len(result.text) <= limit
    result.text.encode("utf-8")  # storable: no lone surrogate left


@given(_HOSTILE, st.integers(min_value=1, max_value=80))
def test_normalising_twice_changes_nothing(raw: str, limit: int) -> None:
    once = normalise_text(raw, limit)
    twice = normalise_text(once.text, limit)

    assert twice.text == once.text
    assert twice.truncated_from is None
    assert twice.controls_removed == 0


@given(st.text(st.characters(exclude_categories=("Cc", "Cs"))))
def test_text_a_person_types_keeps_every_character_in_nfc(typed: str) -> None:
    result = normalise_text(typed)

    assert result.text == unicodedata.normalize("NFC", typed)[:MAX_TEXT_CHARS]
    assert result.controls_removed == 0


@given(st.text(min_size=1, max_size=40), st.integers(min_value=1, max_value=30))
def test_a_cut_is_recorded_with_the_length_before_it(raw: str, limit: int) -> None:
    result = normalise_text(raw, limit)
    whole = normalise_text(raw, 10**6)

    if len(whole.text) > limit:
        assert result.truncated_from == len(whole.text)
        assert whole.text.startswith(result.text[:-1])
    else:
        assert result.truncated_from is None
        assert result.text == whole.text


@given(_HOSTILE)
def test_a_removed_control_is_counted(raw: str) -> None:
    result = normalise_text(raw, 10**6)
    lines = raw.replace("\r\n", "\n")
    controls = sum(1 for ch in lines if _unwanted(ch) and not 0xD800 <= ord(ch) < 0xE000 and ch != "\r")

    assert result.controls_removed == controls


def test_a_carriage_return_is_a_line_break() -> None:
    assert normalise_text("uno\r\ndos\rtres").text == "uno\ndos\ntres"


def test_the_nul_of_the_issue_is_removed_and_the_rest_kept() -> None:
    assert normalise_text("hola\u0000 necesito gasfiter").text == "hola necesito gasfiter"


# ------------------------------------------------------------------------------------------- envelope


def _message(text: str) -> InboundMessage:
    [envelope] = normalize(WebhookPayload.model_validate(text_message("wamid.T", "56911112222", text)))
    assert isinstance(envelope, InboundMessage)
    return envelope


def _joins_into_a_pair(text: str) -> bool:
    return any("\ud800" <= a < "\udc00" <= b < "\ue000" for a, b in itertools.pairwise(text))


#: Parsed JSON never holds a high surrogate right before a low one: its escapes read back as one character.
_FROM_JSON = _HOSTILE.filter(lambda text: not _joins_into_a_pair(text))


@given(_FROM_JSON)
def test_an_inbound_text_is_normalised_and_its_raw_keeps_the_original(text: str) -> None:
    message = _message(text)

    assert message.text == normalise_text(text).text
    assert message.raw["text"]["body"] == text
    assert "\\u0000" not in orjson.dumps({"text": message.text}).decode()
    # A lone surrogate stays in ``raw``: only the contract's own dump can write it (as its JSON escape).
    assert parse_envelope(dump_envelope(message)) == message


def test_a_text_longer_than_whatsapp_allows_is_cut_and_the_cut_recorded() -> None:
    message = _message("a" * 70_000)

    assert message.text == "a" * MAX_TEXT_CHARS
    assert message.text_truncated_from == 70_000
    assert len(message.raw["text"]["body"]) == 70_000


def test_an_envelope_published_before_normalising_existed_is_normalised_when_read() -> None:
    message = _message("hola")
    hostile = {"text": "hola\u0000", "sender_name": "Ana\u0007", "reply_title": "S\u00ed\x00"}
    old = message.model_dump(mode="json") | hostile

    parsed = parse_envelope(orjson.dumps(old))

    assert isinstance(parsed, InboundMessage)
    assert (parsed.text, parsed.sender_name, parsed.reply_title) == ("hola", "Ana", "Sí")
    assert parsed.text_controls_removed == 1


def test_a_shared_place_is_normalised_too() -> None:
    payload = text_message("wamid.L", "56911112222", "x")
    message_dict = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    del message_dict["text"]
    message_dict["type"] = "location"
    place = {"name": "Casa\x00", "address": "Irarra\u0301zaval"}
    message_dict["location"] = {"latitude": -33.4, "longitude": -70.6, **place}

    [envelope] = normalize(WebhookPayload.model_validate(payload))

    assert isinstance(envelope, InboundMessage) and envelope.location is not None
    assert (envelope.location.name, envelope.location.address) == ("Casa", "Irarrázaval")


@given(_HOSTILE)
def test_the_texts_of_a_status_error_and_an_account_error_are_normalised_and_raw_keeps_them(title: str) -> None:
    status = statuses("56987650001", ["wamid.OUT1"])
    value = status["entry"][0]["changes"][0]["value"]
    value["statuses"] = value["statuses"][:1]
    value["statuses"][0]["errors"] = [{"code": 131026, "title": title, "error_data": {"details": title}}]
    value["errors"] = [{"code": 131000, "title": title, "message": title, "href": title}]

    [delivery, account] = normalize(WebhookPayload.model_validate(status))

    expected = normalise_text(title).text
    assert isinstance(delivery, InboundStatus) and isinstance(account, InboundError)
    [error] = delivery.errors
    assert (error.title, error.error_data and error.error_data.details) == (expected, expected)
    assert (account.error.title, account.error.message, account.error.href) == (expected,) * 3
    assert delivery.raw["errors"][0]["title"] == title
    # What the consumer reads back is what was published.
    assert parse_envelope(dump_envelope(account)).dedupe_key == account.dedupe_key
