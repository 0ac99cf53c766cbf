"""Normalization turns every webhook update into one envelope, drops none, and the envelopes round-trip."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from contracts.inbound import (
    INBOUND_ENVELOPE_ADAPTER,
    UNKNOWN_SENDER,
    InboundEnvelope,
    InboundError,
    InboundMessage,
    InboundStatus,
    dump_envelope,
    normalize,
    parse_envelope,
)
from contracts.whatsapp import WebhookPayload, WhatsAppError
from tests.fixtures_paths import json_files, local_whatsapp_fixtures_dir, real_whatsapp_fixtures_dir

ALL_FIXTURES = json_files(real_whatsapp_fixtures_dir()) + json_files(local_whatsapp_fixtures_dir())


def load(name: str) -> dict[str, Any]:
    (path,) = [p for p in ALL_FIXTURES if p.name == name]
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def normalized(name: str) -> list[InboundEnvelope]:
    return normalize(WebhookPayload.model_validate(load(name)))


def only_message(name: str) -> InboundMessage:
    (envelope,) = normalized(name)
    assert isinstance(envelope, InboundMessage)
    return envelope


def only_status(name: str) -> InboundStatus:
    (envelope,) = normalized(name)
    assert isinstance(envelope, InboundStatus)
    return envelope


def only_error(name: str) -> InboundError:
    (envelope,) = normalized(name)
    assert isinstance(envelope, InboundError)
    return envelope


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: p.name)
def test_every_fixture_normalizes_to_one_envelope_per_update(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    values = [c["value"] for e in data["entry"] for c in e["changes"]]
    expected = sum(len(v.get(k, [])) for v in values for k in ("messages", "statuses", "errors"))
    envelopes = normalize(WebhookPayload.model_validate_json(path.read_text(encoding="utf-8")))
    assert len(envelopes) == expected
    for envelope in envelopes:
        assert envelope.dedupe_key and envelope.sender_key


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: p.name)
def test_every_envelope_survives_a_round_trip_through_json(path: Path) -> None:
    for envelope in normalize(WebhookPayload.model_validate_json(path.read_text(encoding="utf-8"))):
        again = parse_envelope(dump_envelope(envelope))
        assert again == envelope
        assert type(again) is type(envelope)
        assert (again.dedupe_key, again.sender_key) == (envelope.dedupe_key, envelope.sender_key)


def test_a_text_message_normalizes_to_its_wamid_sender_name_and_body() -> None:
    message = only_message("text.json")
    assert message.kind == "message" and message.type == "text"
    assert message.wamid.startswith("wamid.") and message.dedupe_key == message.wamid
    assert (message.sender_id, message.sender_name) == ("56987654321", "Marcela Rojas")
    assert message.sender_key == "56987654321"
    assert message.phone_number_id == "109876543210987" and message.entry_id == "204567891234567"
    assert message.text == "hola, se me rompió la cañería del baño y está saliendo agua, estoy en ñuñoa"
    assert message.occurred_at is not None and message.timestamp == "1760011200"


@pytest.mark.parametrize(
    ("fixture", "reply_id", "reply_title"),
    [
        ("interactive_button_reply.json", "urgencia_hoy", "Hoy"),
        ("interactive_list_reply.json", "servicio_gasfiteria", "Gasfitería"),
        ("button_quick_reply.json", "aceptar_oferta:lead-7f3a", "Aceptar"),
        ("pywa_button_quick_reply.json", "callback_data", "title"),
    ],
)
def test_a_tapped_reply_normalizes_to_its_id_title_and_replied_message(
    fixture: str, reply_id: str, reply_title: str
) -> None:
    message = only_message(fixture)
    assert (message.reply_id, message.reply_title) == (reply_id, reply_title)
    assert message.text is None
    assert message.context_wamid is not None and message.context_wamid.startswith("wamid.")


def test_a_location_normalizes_to_its_coordinates() -> None:
    message = only_message("location.json")
    assert message.location is not None
    assert (message.location.latitude, message.location.longitude) == (-33.454102, -70.598307)


@pytest.mark.parametrize(
    ("fixture", "media_id", "caption"),
    [
        ("image.json", "1234567890123456", "así quedó la llave del lavaplatos"),
        ("audio_voice.json", "2345678901234567", None),
        ("video.json", "3456789012345678", "mire cómo gotea el calefont"),
        ("document.json", "4567890123456789", "le mando la boleta del arreglo anterior"),
        ("sticker.json", "5678901234567890", None),
    ],
)
def test_a_media_message_normalizes_to_its_media_id_and_caption(
    fixture: str, media_id: str, caption: str | None
) -> None:
    message = only_message(fixture)
    assert (message.media_id, message.text) == (media_id, caption)
    assert message.media_mime_type


def test_an_order_note_is_read_as_the_text() -> None:
    assert only_message("order.json").text == "¿me lo pueden instalar el sábado?"


@pytest.mark.parametrize(
    "fixture",
    [
        "unsupported.json",
        "unknown_future_field_and_type.json",
        "reaction.json",
        "reaction_removed.json",
        "contacts.json",
        "interactive_nfm_reply.json",
    ],
)
def test_a_message_with_no_typed_fields_of_its_own_is_still_normalized_with_its_raw_dict(fixture: str) -> None:
    message = only_message(fixture)
    raw_message = load(fixture)["entry"][0]["changes"][0]["value"]["messages"][0]
    assert message.raw == raw_message
    assert message.type == raw_message["type"]


def test_a_message_of_an_unknown_type_keeps_its_unknown_content_in_raw() -> None:
    message = only_message("unknown_future_field_and_type.json")
    assert message.type == "poll_vote"
    assert message.raw["poll_vote"]["selected_options"] == ["Mañana", "Tarde"]


def test_a_system_message_has_a_sender_but_no_name() -> None:
    message = only_message("system_changed_number.json")
    assert (message.sender_id, message.sender_name) == ("56987654321", None)


def test_a_message_from_a_username_user_takes_the_user_id_as_sender() -> None:
    message = only_message("text_from_username_user.json")
    assert message.sender_wa_id is None
    assert message.sender_id == message.sender_user_id == "CL.8841203377165021"
    assert message.sender_key == "CL.8841203377165021"
    assert message.sender_name == "Cata"


def test_a_message_that_names_nobody_is_kept_under_an_unknown_sender() -> None:
    data = load("system_changed_number.json")
    del data["entry"][0]["changes"][0]["value"]["messages"][0]["from"]
    (envelope,) = normalize(WebhookPayload.model_validate(data))
    assert envelope.sender_key == UNKNOWN_SENDER


def test_a_status_is_deduplicated_by_wamid_and_status_and_partitioned_by_recipient() -> None:
    status = only_status("status_delivered_contact_without_profile.json")
    assert status.dedupe_key == f"{status.wamid}:delivered"
    assert status.sender_key == status.recipient_id == "56987654321"
    assert status.recipient_user_id == "CL.1502576394655843"
    assert status.biz_opaque_callback_data == "lead-7f3a:resumen"


def test_a_status_of_a_username_user_is_partitioned_by_their_user_id() -> None:
    status = only_status("status_read_username_user.json")
    assert status.recipient_wa_id is None
    assert status.sender_key == "CL.8841203377165021"


def test_a_failed_status_carries_its_errors_and_a_redacted_timestamp_reads_as_none() -> None:
    status = only_status("issue227_status_failed_131026_redacted.json")
    assert status.status == "failed" and [e.code for e in status.errors] == [131026]
    assert status.timestamp == "1...." and status.occurred_at is None


def test_an_unknown_status_value_is_still_normalized() -> None:
    status = only_status("status_unknown_value.json")
    assert status.dedupe_key.endswith(":queued_at_edge")


def test_value_errors_normalize_to_errors_partitioned_by_phone_number_id() -> None:
    error = only_error("value_errors_only.json")
    assert error.error.code == 131000
    assert error.sender_key == error.phone_number_id == "109876543210987"
    assert re.fullmatch(r"[0-9a-f]{64}", error.dedupe_key)


def test_the_error_dedupe_key_is_the_same_for_a_retried_delivery() -> None:
    assert only_error("value_errors_only.json").dedupe_key == only_error("value_errors_only.json").dedupe_key


def test_the_error_dedupe_key_ignores_key_order_and_explicit_nulls() -> None:
    error = WhatsAppError.model_validate({"code": 131000, "title": "Something went wrong"})
    reordered = WhatsAppError.model_validate({"title": "Something went wrong", "href": None, "code": 131000})
    first = InboundError(phone_number_id="109876543210987", error=error)
    second = InboundError(phone_number_id="109876543210987", error=reordered)
    assert first.dedupe_key == second.dedupe_key


def test_the_error_dedupe_key_differs_by_content_and_by_phone_number() -> None:
    error = WhatsAppError.model_validate({"code": 131000, "title": "Something went wrong"})
    other = WhatsAppError.model_validate({"code": 130429, "title": "Rate limit hit"})
    base = InboundError(phone_number_id="109876543210987", error=error)
    assert base.dedupe_key != InboundError(phone_number_id="109876543210987", error=other).dedupe_key
    assert base.dedupe_key != InboundError(phone_number_id="109876543210999", error=error).dedupe_key


def test_unknown_fields_of_an_error_take_part_in_its_dedupe_key_and_survive_a_round_trip() -> None:
    error = WhatsAppError.model_validate({"code": 131000, "fbtrace_id": "AbC123", "detail": None})
    envelope = InboundError(phone_number_id="109876543210987", error=error)
    plain = InboundError(phone_number_id="109876543210987", error=WhatsAppError(code=131000))
    assert envelope.dedupe_key != plain.dedupe_key
    assert parse_envelope(dump_envelope(envelope)).dedupe_key == envelope.dedupe_key


def test_a_batch_normalizes_in_payload_order() -> None:
    envelopes = normalized("batch_several_entries.json")
    assert [e.kind for e in envelopes] == ["message", "message", "status", "status", "message", "error"]
    sent, delivered = envelopes[2], envelopes[3]
    assert isinstance(sent, InboundStatus) and isinstance(delivered, InboundStatus)
    assert sent.wamid == delivered.wamid and sent.dedupe_key != delivered.dedupe_key
    assert [e.sender_key for e in envelopes] == ["56987654321"] * 4 + ["56911223344", "109876543210999"]


def test_a_consumer_parses_any_envelope_with_one_type_adapter() -> None:
    envelopes = normalized("batch_several_entries.json")
    parsed = [INBOUND_ENVELOPE_ADAPTER.validate_python(json.loads(dump_envelope(e))) for e in envelopes]
    assert [type(e) for e in parsed] == [
        InboundMessage,
        InboundMessage,
        InboundStatus,
        InboundStatus,
        InboundMessage,
        InboundError,
    ]


def test_an_envelope_from_a_newer_publisher_with_unknown_fields_still_parses() -> None:
    data = json.loads(dump_envelope(only_message("text.json")))
    data["added_in_a_later_release"] = {"x": 1}
    assert isinstance(parse_envelope(json.dumps(data)), InboundMessage)


def test_envelopes_are_frozen() -> None:
    message = only_message("text.json")
    with pytest.raises(ValueError, match="frozen"):
        message.text = "otra cosa"  # type: ignore[misc]


def test_a_change_of_another_field_normalizes_to_nothing() -> None:
    assert normalized("template_status_update.json") == []
