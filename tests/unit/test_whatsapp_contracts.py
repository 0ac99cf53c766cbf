"""The WhatsApp webhook models parse every real and synthetic payload, and never lose what they do not know."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.whatsapp import (
    ErrorItem,
    MessageItem,
    MessageType,
    StatusItem,
    StatusKind,
    VerificationQuery,
    WebhookPayload,
    unix_seconds_to_datetime,
)
from tests.fixtures_paths import json_files, local_whatsapp_fixtures_dir, real_whatsapp_fixtures_dir

REAL = json_files(real_whatsapp_fixtures_dir())
LOCAL = json_files(local_whatsapp_fixtures_dir())
ALL_FIXTURES = REAL + LOCAL


def load(name: str) -> dict[str, Any]:
    for path in ALL_FIXTURES:
        if path.name == name:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return data
    raise LookupError(name)


def parse(name: str) -> WebhookPayload:
    return WebhookPayload.model_validate(load(name))


def only_message(name: str) -> MessageItem:
    (item,) = parse(name).iter_messages()
    return item


def only_status(name: str) -> StatusItem:
    (item,) = parse(name).iter_statuses()
    return item


def test_the_real_fixture_folder_is_inside_the_repo() -> None:
    assert real_whatsapp_fixtures_dir().is_dir()
    assert len(REAL) >= 5


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: p.name)
def test_every_fixture_parses_from_json_text_and_from_a_dict_alike(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    from_json = WebhookPayload.model_validate_json(text)
    from_dict = WebhookPayload.model_validate(json.loads(text))
    assert from_json == from_dict
    assert from_json.object == "whatsapp_business_account"


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: p.name)
def test_every_fixture_dumps_back_to_what_it_was_parsed_from(path: Path) -> None:
    # Nothing is dropped, unknown fields included: the set fields dump to the original document.
    data = json.loads(path.read_text(encoding="utf-8"))
    dumped = WebhookPayload.model_validate(data).model_dump(mode="json", exclude_unset=True)
    assert json.loads(json.dumps(dumped)) == _numbers_as_text_where_models_say_so(data, dumped)


def _numbers_as_text_where_models_say_so(original: Any, dumped: Any) -> Any:
    # Ids that Meta sends as numbers are read as text; everything else must come back unchanged.
    if isinstance(original, dict) and isinstance(dumped, dict):
        return {k: _numbers_as_text_where_models_say_so(v, dumped.get(k)) for k, v in original.items()}
    if isinstance(original, list) and isinstance(dumped, list):
        return [_numbers_as_text_where_models_say_so(o, d) for o, d in zip(original, dumped, strict=True)]
    if isinstance(original, int | float) and not isinstance(original, bool) and isinstance(dumped, str):
        return dumped
    return original


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: p.name)
def test_every_raw_message_and_status_is_kept_verbatim(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    raw_messages = [m for e in data["entry"] for c in e["changes"] for m in c["value"].get("messages", [])]
    raw_statuses = [s for e in data["entry"] for c in e["changes"] for s in c["value"].get("statuses", [])]
    payload = WebhookPayload.model_validate(data)
    assert [i.message.raw for i in payload.iter_messages()] == raw_messages
    assert [i.status.raw for i in payload.iter_statuses()] == raw_statuses


def test_every_documented_message_type_has_a_synthetic_fixture() -> None:
    seen = {item.message.type for path in LOCAL for item in parse(path.name).iter_messages()}
    documented = {t.value for t in MessageType} - {"unknown", "request_welcome"}
    assert documented <= seen


def test_a_text_message_exposes_its_body_sender_and_contact() -> None:
    item = only_message("text.json")
    assert item.message.known_type is MessageType.TEXT
    assert item.message.text is not None and "cañería" in item.message.text.body
    assert item.message.from_ == "56987654321"
    assert item.contact is not None and item.contact.profile is not None
    assert item.contact.profile.name == "Marcela Rojas"
    assert item.phone_number_id == "109876543210987"


@pytest.mark.parametrize(
    ("fixture", "kind", "reply_id", "title"),
    [
        ("interactive_button_reply.json", "button_reply", "urgencia_hoy", "Hoy"),
        ("interactive_list_reply.json", "list_reply", "servicio_gasfiteria", "Gasfitería"),
    ],
)
def test_an_interactive_reply_exposes_the_tapped_id_and_title(
    fixture: str, kind: str, reply_id: str, title: str
) -> None:
    message = only_message(fixture).message
    assert message.interactive is not None and message.interactive.type == kind
    reply = message.interactive.button_reply or message.interactive.list_reply
    assert reply is not None and (reply.id, reply.title) == (reply_id, title)
    assert message.context is not None and message.context.id is not None


def test_a_flow_reply_decodes_its_response_json() -> None:
    message = only_message("interactive_nfm_reply.json").message
    assert message.interactive is not None and message.interactive.nfm_reply is not None
    assert message.interactive.nfm_reply.response_data() == {
        "flow_token": "lead-7f3a",
        "comuna": "Ñuñoa",
        "direccion": "Irarrázaval 1234 depto 5",
    }


@pytest.mark.parametrize("response_json", [None, "no es json", "[1, 2]"])
def test_a_flow_reply_with_no_json_object_decodes_to_none(response_json: str | None) -> None:
    from contracts.whatsapp import NfmReply

    assert NfmReply(response_json=response_json).response_data() is None


def test_a_template_quick_reply_exposes_its_payload_and_text() -> None:
    message = only_message("button_quick_reply.json").message
    assert message.button is not None
    assert (message.button.payload, message.button.text) == ("aceptar_oferta:lead-7f3a", "Aceptar")
    pywa = only_message("pywa_button_quick_reply.json").message
    assert pywa.button is not None and pywa.button.payload == "callback_data"


def test_a_location_message_exposes_coordinates_and_address() -> None:
    location = only_message("location.json").message.location
    assert location is not None
    assert (location.latitude, location.longitude) == (-33.454102, -70.598307)
    assert location.address is not None and "Ñuñoa" in location.address


@pytest.mark.parametrize(
    ("fixture", "media_id", "mime_type"),
    [
        ("image.json", "1234567890123456", "image/jpeg"),
        ("audio_voice.json", "2345678901234567", "audio/ogg; codecs=opus"),
        ("video.json", "3456789012345678", "video/mp4"),
        ("document.json", "4567890123456789", "application/pdf"),
        ("sticker.json", "5678901234567890", "image/webp"),
    ],
)
def test_a_media_message_exposes_its_media_object(fixture: str, media_id: str, mime_type: str) -> None:
    message = only_message(fixture).message
    assert message.media is not None
    assert (message.media.id, message.media.mime_type) == (media_id, mime_type)
    assert message.media.sha256


def test_media_flags_and_names_are_read() -> None:
    audio = only_message("audio_voice.json").message.audio
    sticker = only_message("sticker.json").message.sticker
    document = only_message("document.json").message.document
    assert audio is not None and audio.voice is True
    assert sticker is not None and sticker.animated is True
    assert document is not None and document.filename == "boleta_gasfiter_marzo.pdf"


def test_a_reaction_names_the_message_and_the_emoji() -> None:
    reaction = only_message("reaction.json").message.reaction
    assert reaction is not None and reaction.emoji == "👍" and not reaction.removed
    assert reaction.message_id is not None and reaction.message_id.startswith("wamid.")


def test_a_removed_reaction_parses_with_no_emoji() -> None:
    reaction = only_message("reaction_removed.json").message.reaction
    assert reaction is not None and reaction.emoji is None and reaction.removed


def test_a_shared_contact_card_is_read_in_full() -> None:
    (card,) = only_message("contacts.json").message.contacts
    assert card.name is not None and card.name.formatted_name == "Juan Pérez Gasfiter"
    assert [p.wa_id for p in card.phones] == ["56955551234"]
    assert card.addresses[0].city == "Maipú"
    assert card.org is not None and card.org.company == "Gasfitería Pérez"
    assert card.emails[0].email and card.urls[0].url and card.birthday == "1978-09-18"


def test_a_system_message_has_no_contact() -> None:
    item = only_message("system_changed_number.json")
    assert item.contact is None
    assert item.message.system is not None
    assert (item.message.system.type, item.message.system.wa_id) == ("user_changed_number", "56976543210")


def test_an_order_lists_its_products() -> None:
    order = only_message("order.json").message.order
    assert order is not None and order.catalog_id == "837261549012345"
    assert [(p.product_retailer_id, p.quantity, p.item_price) for p in order.product_items] == [
        ("cilindro-cerradura-yale", 1, 18990),
        ("visita-cerrajeria", 1, 25000),
    ]


def test_an_unsupported_message_keeps_its_errors() -> None:
    message = only_message("unsupported.json").message
    assert message.known_type is MessageType.UNSUPPORTED
    assert message.unsupported is not None and message.unsupported.type == "edit"
    (error,) = message.errors
    assert error.code == 131051 and error.error_data is not None
    assert error.error_data.details == "Message type is currently not supported."


def test_a_click_to_whatsapp_referral_is_read() -> None:
    referral = only_message("text_with_referral.json").message.referral
    assert referral is not None and referral.source_type == "ad" and referral.ctwa_clid
    assert referral.welcome_message is not None and referral.welcome_message.text


def test_a_forwarded_message_says_so_in_its_context() -> None:
    context = only_message("text_forwarded.json").message.context
    assert context is not None and context.forwarded and context.frequently_forwarded and context.id is None


def test_a_question_about_a_product_names_the_referred_product() -> None:
    context = only_message("text_referred_product.json").message.context
    assert context is not None and context.referred_product is not None
    assert context.referred_product.product_retailer_id == "cilindro-cerradura-yale"
    assert context.from_ == "56229401234"


def test_a_user_with_a_username_and_no_phone_number_is_matched_to_their_contact() -> None:
    item = only_message("text_from_username_user.json")
    assert item.message.from_ is None
    assert item.contact is not None and item.contact.user_id == "CL.8841203377165021"
    assert item.contact.wa_id is None
    assert item.contact.profile is not None and item.contact.profile.username == "@cata.vidal"


def test_a_message_of_an_unknown_type_still_parses_and_keeps_its_unknown_fields() -> None:
    payload = parse("unknown_future_field_and_type.json")
    (item,) = payload.iter_messages()
    assert item.message.type == "poll_vote" and item.message.known_type is None
    assert item.message.model_extra is not None
    assert item.message.model_extra["poll_vote"]["selected_options"] == ["Mañana", "Tarde"]
    assert item.message.model_extra["conversation_ref"] == {"thread": "t-99"}
    change = payload.entry[0].changes[0]
    assert change.model_extra == {"future_flag": True}
    assert change.value.model_extra == {"future_insights": {"sentiment": "neutral"}}


def test_unknown_fields_survive_a_dump_and_a_reparse() -> None:
    payload = parse("unknown_future_field_and_type.json")
    again = WebhookPayload.model_validate_json(payload.model_dump_json())
    value = again.entry[0].changes[0].value
    assert value.model_extra == {"future_insights": {"sentiment": "neutral"}}
    assert value.messages[0].model_dump()["poll_vote"]["poll_id"].startswith("wamid.")


def test_a_delivered_status_matches_a_contact_that_has_no_profile() -> None:
    item = only_status("status_delivered_contact_without_profile.json")
    assert item.status.known_status is StatusKind.DELIVERED
    assert item.contact is not None and item.contact.profile is None
    assert item.contact.user_id == "CL.1502576394655843"
    assert item.status.pricing is not None and item.status.pricing.billable is False
    assert item.status.conversation is not None and item.status.conversation.origin is not None
    assert item.status.biz_opaque_callback_data == "lead-7f3a:resumen"


def test_an_unknown_status_value_still_parses_with_no_known_status() -> None:
    status = only_status("status_unknown_value.json").status
    assert status.status == "queued_at_edge" and status.known_status is None


def test_a_status_for_a_username_user_has_no_recipient_phone_but_a_user_id() -> None:
    item = only_status("status_read_username_user.json")
    assert item.status.recipient_id is None
    assert item.status.recipient_user_id == "CL.8841203377165021"
    assert item.contact is not None and item.contact.user_id == item.status.recipient_user_id


def test_a_failed_status_keeps_its_error_details() -> None:
    status = only_status("meta_status_failed_131049.json").status
    assert status.known_status is StatusKind.FAILED
    (error,) = status.errors
    assert error.code == 131049 and error.href is not None
    assert error.error_data is not None and error.error_data.details is not None


def test_a_redacted_non_numeric_timestamp_parses_and_reads_as_no_datetime() -> None:
    status = only_status("issue227_status_failed_131026_redacted.json").status
    assert status.timestamp == "1...."
    assert status.occurred_at is None


def test_a_numeric_timestamp_reads_as_a_utc_datetime() -> None:
    message = only_message("meta_text.json").message
    assert message.occurred_at == datetime(2025, 6, 8, 20, 59, 43, tzinfo=UTC)


@pytest.mark.parametrize("raw", [None, "", "abc", "1....", "1e400", "99999999999999999999"])
def test_a_timestamp_that_is_not_sane_unix_seconds_reads_as_none(raw: str | None) -> None:
    assert unix_seconds_to_datetime(raw) is None


def test_value_errors_without_messages_are_iterated_with_their_phone_number_id() -> None:
    payload = parse("value_errors_only.json")
    assert list(payload.iter_messages()) == [] and list(payload.iter_statuses()) == []
    (item,) = payload.iter_errors()
    assert item.error.code == 131000 and item.phone_number_id == "109876543210987"


def test_a_change_of_another_field_parses_with_no_updates() -> None:
    payload = parse("template_status_update.json")
    assert payload.entry[0].changes[0].field == "message_template_status_update"
    assert payload.entry[0].changes[0].value.metadata is None
    assert list(payload.iter_updates()) == []


def test_a_batch_yields_every_update_in_payload_order_with_its_own_origin() -> None:
    updates = list(parse("batch_several_entries.json").iter_updates())
    assert [type(u) for u in updates] == [MessageItem, MessageItem, StatusItem, StatusItem, MessageItem, ErrorItem]
    assert [u.origin.entry_id for u in updates] == ["204567891234567"] * 4 + ["204567891239999"] * 2
    assert [u.phone_number_id for u in updates] == ["109876543210987"] * 4 + ["109876543210999"] * 2
    last_message = updates[4]
    assert isinstance(last_message, MessageItem) and last_message.contact is not None
    assert last_message.contact.wa_id == "56911223344"


def test_a_second_message_of_the_same_sender_shares_the_one_contact() -> None:
    first, second, _technician = parse("batch_several_entries.json").iter_messages()
    assert first.contact is second.contact is not None


def test_a_contact_whose_wa_id_contradicts_the_sender_is_not_attached() -> None:
    data = load("text.json")
    data["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = "56900000000"
    assert only_message_of(data).contact is None


def only_message_of(data: dict[str, Any]) -> MessageItem:
    (item,) = WebhookPayload.model_validate(data).iter_messages()
    return item


def test_ids_sent_as_numbers_are_read_as_text() -> None:
    data = load("system_changed_number.json")
    data["entry"][0]["changes"][0]["value"]["messages"][0]["system"]["wa_id"] = 56976543210
    system = only_message_of(data).message.system
    assert system is not None and system.wa_id == "56976543210"


def test_a_message_without_an_id_is_rejected_cleanly() -> None:
    data = load("text.json")
    del data["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    with pytest.raises(ValidationError):
        WebhookPayload.model_validate(data)


def test_parsed_models_are_frozen() -> None:
    message = only_message("text.json").message
    with pytest.raises(ValidationError):
        message.type = "image"  # type: ignore[misc]


QUERY = {"hub.mode": "subscribe", "hub.verify_token": "token-secreto", "hub.challenge": "1158201444"}


def test_the_verification_query_echoes_the_challenge_for_the_right_token() -> None:
    assert VerificationQuery.model_validate(QUERY).verify("token-secreto") == "1158201444"


@pytest.mark.parametrize("override", [{"hub.verify_token": "otro"}, {"hub.mode": "unsubscribe"}])
def test_the_verification_query_refuses_a_wrong_token_or_mode(override: dict[str, str]) -> None:
    assert VerificationQuery.model_validate(QUERY | override).verify("token-secreto") is None


def test_a_verification_query_without_a_challenge_is_rejected() -> None:
    with pytest.raises(ValidationError):
        VerificationQuery.model_validate({"hub.mode": "subscribe", "hub.verify_token": "x"})
