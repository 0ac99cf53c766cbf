"""Builders of signed WhatsApp webhook payloads for tests, the simulator-free e2e runs and benchmarks."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from ingress.signature import sign

PHONE_NUMBER_ID = "106540352242922"


def text_message(
    wamid: str, sender: str, text: str, *, name: str = "Cliente", timestamp: int = 1_760_000_000
) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "56229990000", "phone_number_id": PHONE_NUMBER_ID},
                            "contacts": [{"profile": {"name": name}, "wa_id": sender}],
                            "messages": [
                                {
                                    "from": sender,
                                    "id": wamid,
                                    "timestamp": str(timestamp),
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


def button_reply(
    wamid: str, sender: str, reply_id: str, title: str, *, timestamp: int = 1_760_000_000
) -> dict[str, Any]:
    payload = text_message(wamid, sender, "", timestamp=timestamp)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("text")
    message["type"] = "interactive"
    message["interactive"] = {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}}
    return payload


def statuses(to: str, wamids: list[str]) -> dict[str, Any]:
    """Meta's status webhook: each message delivered, then read."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "56229990000", "phone_number_id": PHONE_NUMBER_ID},
        "statuses": [
            {"id": wamid, "status": status, "timestamp": str(1_760_000_000 + i), "recipient_id": to}
            for i, wamid in enumerate(wamids)
            for status in ("delivered", "read")
        ],
    }
    change = {"field": "messages", "value": value}
    return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}


def meta_wamid(phone: str, number: int) -> str:
    """A wamid shaped like Meta's: base64 of a record that starts with the other party's WhatsApp id."""
    record = b"\x1c\x18" + bytes([len(phone)]) + phone.encode() + b"\x15\x02\x00\x12\x18\x14"
    return "wamid." + base64.b64encode(record + f"3EB0{number:016X}".encode() + b"\x00").decode()


def batch(messages: list[tuple[str, str, str]]) -> dict[str, Any]:
    """One change holding many messages (wamid, sender, text), as Meta batches them."""
    payload = text_message(*messages[0])
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"] = [{"profile": {"name": "Cliente"}, "wa_id": s} for s in sorted({m[1] for m in messages})]
    value["messages"] = [
        {"from": sender, "id": wamid, "timestamp": "1760000000", "type": "text", "text": {"body": text}}
        for wamid, sender, text in messages
    ]
    return payload


def signed(payload: dict[str, Any] | bytes, app_secret: str) -> tuple[bytes, dict[str, str]]:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return body, {"X-Hub-Signature-256": sign(body, app_secret), "Content-Type": "application/json"}
