"""Outbound messages: WhatsApp's limits are enforced at construction, and the Graph API payload is exact."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.events import decode_event
from contracts.outbound import (
    OUTBOUND_MESSAGE_ADAPTER,
    ButtonsMessage,
    ListMessage,
    ListRow,
    ListSection,
    RecipientRole,
    ReplyButton,
    ReplyQueued,
    TextMessage,
    to_graph_api_payload,
)

TO = "56987654321"


def buttons(*titles: str) -> tuple[ReplyButton, ...]:
    return tuple(ReplyButton(id=f"b{i}", title=t) for i, t in enumerate(titles))


def rows(n: int) -> tuple[ListRow, ...]:
    return tuple(ListRow(id=f"r{i}", title=f"Fila {i}") for i in range(n))


def test_a_text_message_becomes_the_exact_graph_api_payload() -> None:
    assert TextMessage(body="Hola").to_graph_api_payload(TO) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "text",
        "text": {"preview_url": False, "body": "Hola"},
    }


def test_reply_buttons_become_the_exact_graph_api_payload() -> None:
    message = ButtonsMessage(body="¿Qué tan urgente es?", buttons=buttons("Hoy", "1-2 días"), footer="ConectaPro")
    assert to_graph_api_payload(message, TO) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "¿Qué tan urgente es?"},
            "footer": {"text": "ConectaPro"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "b0", "title": "Hoy"}},
                    {"type": "reply", "reply": {"id": "b1", "title": "1-2 días"}},
                ]
            },
        },
    }


def test_a_list_becomes_the_exact_graph_api_payload() -> None:
    message = ListMessage(
        body="Califica",
        button="Calificar",
        header="Tu opinión",
        sections=(
            ListSection(
                rows=(ListRow(id="rating:5", title="5", description="Excelente"), ListRow(id="rating:1", title="1"))
            ),
        ),
    )
    assert message.to_graph_api_payload(TO)["interactive"] == {
        "type": "list",
        "header": {"type": "text", "text": "Tu opinión"},
        "body": {"text": "Califica"},
        "action": {
            "button": "Calificar",
            "sections": [
                {
                    "rows": [
                        {"id": "rating:5", "title": "5", "description": "Excelente"},
                        {"id": "rating:1", "title": "1"},
                    ]
                }
            ],
        },
    }


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: ButtonsMessage(body="x", buttons=()), id="no buttons"),
        pytest.param(lambda: ButtonsMessage(body="x", buttons=buttons("a", "b", "c", "d")), id="four buttons"),
        pytest.param(lambda: ReplyButton(id="b", title="x" * 21), id="button title over 20"),
        pytest.param(
            lambda: ButtonsMessage(body="x", buttons=(ReplyButton(id="b", title="a"), ReplyButton(id="b", title="c"))),
            id="duplicate button ids",
        ),
        pytest.param(lambda: ButtonsMessage(body="x", buttons=buttons("Sí", "Sí")), id="duplicate button titles"),
        pytest.param(lambda: ButtonsMessage(body="x" * 1025, buttons=buttons("a")), id="interactive body over 1024"),
        pytest.param(lambda: TextMessage(body=""), id="empty text"),
        pytest.param(lambda: TextMessage(body="x" * 4097), id="text over 4096"),
        pytest.param(
            lambda: ListMessage(body="x", button="x" * 21, sections=(ListSection(rows=rows(1)),)),
            id="list button over 20",
        ),
        pytest.param(lambda: ListMessage(body="x", button="b", sections=()), id="no sections"),
        pytest.param(lambda: ListSection(rows=()), id="empty section"),
        pytest.param(
            lambda: ListMessage(
                body="x",
                button="b",
                sections=(ListSection(title="a", rows=rows(6)), ListSection(title="b", rows=rows(5))),
            ),
            id="eleven rows in total",
        ),
        pytest.param(lambda: ListRow(id="r", title="x" * 25), id="row title over 24"),
        pytest.param(lambda: ListRow(id="r", title="x", description="x" * 73), id="row description over 72"),
        pytest.param(
            lambda: ListMessage(
                body="x",
                button="b",
                sections=(ListSection(title="a", rows=rows(1)), ListSection(title="b", rows=rows(1))),
            ),
            id="duplicate row ids across sections",
        ),
        pytest.param(
            lambda: ListMessage(
                body="x",
                button="b",
                sections=(ListSection(rows=rows(1)), ListSection(title="b", rows=(ListRow(id="z", title="z"),))),
            ),
            id="untitled section among several",
        ),
    ],
)
def test_a_message_whatsapp_would_refuse_cannot_be_built(build: Any) -> None:
    with pytest.raises(ValidationError):
        build()


def test_the_limits_themselves_are_accepted() -> None:
    ButtonsMessage(body="x" * 1024, buttons=buttons("a" * 20, "b" * 20, "c" * 20))
    ListMessage(
        body="x",
        button="b" * 20,
        sections=(ListSection(title="s" * 24, rows=(ListRow(id="r", title="t" * 24, description="d" * 72),)),),
    )
    ListMessage(body="x", button="b", sections=(ListSection(rows=rows(10)),))


def test_outbound_messages_round_trip_through_json_by_their_kind() -> None:
    for message in (
        TextMessage(body="hola"),
        ButtonsMessage(body="x", buttons=buttons("a")),
        ListMessage(body="x", button="b", sections=(ListSection(rows=rows(2)),)),
    ):
        assert OUTBOUND_MESSAGE_ADAPTER.validate_json(OUTBOUND_MESSAGE_ADAPTER.dump_json(message)) == message


def test_a_queued_reply_round_trips_through_the_event_registry() -> None:
    event = ReplyQueued(
        reply_id=uuid.uuid4(),
        to=TO,
        recipient=RecipientRole.CUSTOMER,
        purpose="ask_urgency",
        message=ButtonsMessage(body="¿Qué tan urgente es?", buttons=buttons("Hoy")),
        in_reply_to="wamid.1",
    )
    assert decode_event(event.TYPE, event.SCHEMA_VERSION, event.model_dump(mode="json")) == event
