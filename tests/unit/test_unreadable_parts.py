"""One unreadable update of a webhook is set aside by itself: the rest of the POST is read as usual."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from contracts.inbound import normalize
from ingress.unreadable_parts import read_webhook
from tests.whatsapp_builders import batch, statuses

pytestmark = pytest.mark.unit

CAMILA, PEDRO = "56987650001", "56987650002"


def _three_messages() -> dict[str, Any]:
    return batch([("wamid.1", CAMILA, "hola"), ("wamid.2", PEDRO, "soy Pedro"), ("wamid.3", CAMILA, "en Ñuñoa")])


def _messages_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = payload["entry"][0]["changes"][0]["value"]["messages"]
    return messages


def test_a_readable_webhook_has_no_unreadable_part() -> None:
    payload, parts = read_webhook(_three_messages())

    assert [m.message.id for m in payload.iter_messages()] == ["wamid.1", "wamid.2", "wamid.3"]
    assert parts == []


def test_a_message_without_its_id_is_set_aside_and_the_others_are_read() -> None:
    data = _three_messages()
    del _messages_of(data)[1]["id"]

    payload, [part] = read_webhook(data)

    assert [m.message.id for m in payload.iter_messages()] == ["wamid.1", "wamid.3"]
    assert (part.kind, part.where, part.person) == ("message", "entry.0.changes.0.value.messages.1", PEDRO)
    assert "messages.1.id: missing" in part.reason and "Pedro" not in part.reason
    letter = orjson.loads(part.body)
    value = letter["entry"][0]["changes"][0]["value"]
    # A webhook of its own: its envelope, metadata and sender's contact, and nobody else's data.
    assert letter["object"] == "whatsapp_business_account" and letter["entry"][0]["id"] == "102290129340398"
    assert value["metadata"]["phone_number_id"] and value["messages"] == [_messages_of(data)[1]]
    assert value["contacts"] == [{"profile": {"name": "Cliente"}, "wa_id": PEDRO}]
    assert CAMILA.encode() not in part.body


def test_the_callers_payload_is_left_as_it_was() -> None:
    data = _three_messages()
    del _messages_of(data)[0]["type"]
    before = orjson.dumps(data)

    read_webhook(data)

    assert orjson.dumps(data) == before


def test_a_status_without_its_status_names_its_recipient() -> None:
    data = statuses(CAMILA, ["wamid.OUT1", "wamid.OUT2"])
    del data["entry"][0]["changes"][0]["value"]["statuses"][2]["status"]

    payload, [part] = read_webhook(data)

    assert len(list(payload.iter_statuses())) == 3
    assert (part.kind, part.person) == ("status", CAMILA)


def test_a_senderless_message_without_an_id_is_of_the_changes_only_contact() -> None:
    data = batch([("wamid.1", CAMILA, "hola")])
    message = _messages_of(data)[0]
    del message["id"], message["from"]

    payload, [part] = read_webhook(data)

    assert list(payload.iter_messages()) == []
    assert part.person == CAMILA


def test_a_change_without_its_value_is_set_aside_whole_and_the_other_changes_are_read() -> None:
    data = _three_messages()
    other = batch([("wamid.9", PEDRO, "hola")])["entry"][0]["changes"][0]
    data["entry"][0]["changes"] = [{"field": "messages"}, other]

    payload, [part] = read_webhook(data)

    assert [m.message.id for m in payload.iter_messages()] == ["wamid.9"]
    assert (part.kind, part.where, part.person) == ("change", "entry.0.changes.0", None)


def test_problems_inside_a_spoiled_change_make_one_part() -> None:
    data = _three_messages()
    value = data["entry"][0]["changes"][0]["value"]
    del value["metadata"]["phone_number_id"], _messages_of(data)[0]["id"]

    payload, [part] = read_webhook(data)

    assert list(payload.iter_messages()) == []
    assert part.kind == "change" and "metadata.phone_number_id: missing" in part.reason
    assert "messages.0.id: missing" in part.reason


def test_several_parts_are_set_aside_each_by_itself() -> None:
    data = _three_messages()
    del _messages_of(data)[0]["id"], _messages_of(data)[2]["type"]

    payload, parts = read_webhook(data)

    assert [m.message.id for m in payload.iter_messages()] == ["wamid.2"]
    assert [p.where for p in parts] == ["entry.0.changes.0.value.messages.0", "entry.0.changes.0.value.messages.2"]
    assert len({p.letter_key for p in parts}) == 2


def test_the_same_bytes_give_the_same_letter() -> None:
    data = _three_messages()
    del _messages_of(data)[1]["id"]

    assert read_webhook(orjson.loads(orjson.dumps(data)))[1] == read_webhook(data)[1]


@pytest.mark.parametrize(
    "data",
    [{"entry": []}, {"object": "whatsapp_business_account", "entry": {"id": "1"}}, [1, 2], "hola"],
    ids=["no object", "entry not a list", "a list", "a string"],
)
def test_a_payload_whose_envelope_is_wrong_is_not_read_at_all(data: Any) -> None:
    with pytest.raises(ValidationError):
        read_webhook(data)


def test_what_is_read_normalises_as_a_whole_readable_webhook_would() -> None:
    data = _three_messages()
    del _messages_of(data)[1]["id"]
    readable = _three_messages()
    del _messages_of(readable)[1]

    assert normalize(read_webhook(data)[0]) == normalize(read_webhook(readable)[0])
