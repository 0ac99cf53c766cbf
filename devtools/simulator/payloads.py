"""Webhook payloads as Meta sends them for what a person does in the simulator: text, a tapped button, a
chosen list row. Pure: the wamid and the time come in as arguments."""

from __future__ import annotations

from typing import Any

#: The business number the local sandbox sends from (``conectapro.local_mode``).
PHONE_NUMBER_ID = "100000000000001"
DISPLAY_PHONE_NUMBER = "56229990000"


def _envelope(phone: str, name: str, message: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "100000000000000",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": DISPLAY_PHONE_NUMBER,
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            "contacts": [{"profile": {"name": name}, "wa_id": phone}],
                            "messages": [message],
                        },
                    }
                ],
            }
        ],
    }


def text_payload(phone: str, name: str, text: str, *, wamid: str, timestamp: int) -> dict[str, Any]:
    message = {"from": phone, "id": wamid, "timestamp": str(timestamp), "type": "text", "text": {"body": text}}
    return _envelope(phone, name, message)


def reply_payload(
    phone: str, name: str, *, reply_id: str, title: str, from_list: bool, wamid: str, timestamp: int
) -> dict[str, Any]:
    """A tapped reply button or a chosen list row (``interactive`` ``button_reply`` / ``list_reply``)."""
    kind = "list_reply" if from_list else "button_reply"
    message = {
        "from": phone,
        "id": wamid,
        "timestamp": str(timestamp),
        "type": "interactive",
        "interactive": {"type": kind, kind: {"id": reply_id, "title": title}},
    }
    return _envelope(phone, name, message)
