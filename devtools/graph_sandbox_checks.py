"""What Meta's send endpoint refuses, and how it says so: the sandbox's copy of the Graph API's checks.

``validate_send_payload`` checks a ``POST /{phone_number_id}/messages`` body the way Meta does for text,
reply buttons and lists (the limits ``contracts.outbound`` also enforces on our side), and answers a
:class:`Refusal` that renders as Meta's error JSON. Other message types are accepted unchecked.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Any

#: Letters only: a wamid or trace id must never look like a phone number to the log masker.
LETTERS = string.ascii_letters

# A few of Meta's titles, so a scripted failure reads like the real thing.
ERROR_TITLES = {
    1: "API Unknown", 2: "API Service", 4: "API Too Many Calls", 100: "Invalid parameter",
    190: "Access token has expired", 368: "Temporarily blocked for policies violations",
    80007: "Rate limit issues", 130429: "Rate limit hit", 131000: "Something went wrong",
    131008: "Required parameter is missing", 131009: "Parameter value is not valid",
    131026: "Message undeliverable", 131047: "Re-engagement message", 131048: "Spam rate limit hit",
    131051: "Unsupported message type", 131056: "(Business Account, Consumer Account) pair rate limit hit",
}  # fmt: skip
# Types Meta accepts that the sandbox records without checking their contents.
_SHALLOW_TYPES = {"image", "audio", "video", "document", "sticker", "location", "contacts", "template", "reaction"}
_SHALLOW_INTERACTIVE = {"cta_url", "product", "product_list", "flow", "location_request_message", "address_message"}


# ----------------------------------------------------------------------------------------- refusals


@dataclass(frozen=True)
class Refusal:
    """A Graph API error response."""

    status: int
    code: int
    details: str
    message: str | None = None
    subcode: int | None = None
    type: str = "OAuthException"
    retry_after: float | None = None
    #: Answer ``details`` as plain text instead of a Graph error, like a proxy or load balancer would.
    bare: bool = False

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message or f"(#{self.code}) {ERROR_TITLES.get(self.code, 'Error')}",
            "type": self.type,
            "code": self.code,
            "error_data": {"messaging_product": "whatsapp", "details": self.details},
            "fbtrace_id": "A" + "".join(secrets.choice(LETTERS) for _ in range(22)),
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        return {"error": error}


def invalid_parameter(message: str) -> Refusal:
    return Refusal(400, 100, message, message=f"(#100) {message}")


def _missing(details: str) -> Refusal:
    return Refusal(400, 131008, details)


def _invalid(details: str) -> Refusal:
    return Refusal(400, 131009, details)


# --------------------------------------------------------------------------------------- validation


def _length(value: Any, low: int, high: int) -> bool:
    return isinstance(value, str) and low <= len(value) <= high


def validate_send_payload(payload: Any) -> Refusal | None:
    """None when Meta would accept the body; otherwise the refusal Meta would answer with."""
    if not isinstance(payload, dict):
        return invalid_parameter("Invalid parameter: the request body must be a JSON object")
    product = payload.get("messaging_product")
    if product is None:
        return invalid_parameter("The parameter messaging_product is required.")
    if product != "whatsapp":
        return invalid_parameter(f'Param messaging_product must be one of {{WHATSAPP}} - got "{product}".')
    if not isinstance(payload.get("to"), str) or not payload["to"].strip():
        return invalid_parameter("The parameter to is required.")
    if payload.get("recipient_type", "individual") != "individual":
        return invalid_parameter("Param recipient_type must be one of {INDIVIDUAL}")
    callback_data = payload.get("biz_opaque_callback_data")
    if callback_data is not None and not _length(callback_data, 0, 512):
        return invalid_parameter("Param biz_opaque_callback_data must be a string of at most 512 characters")
    kind = payload.get("type", "text")  # Meta defaults the type to text
    if kind == "text":
        return _validate_text(payload.get("text"))
    if kind == "interactive":
        return _validate_interactive(payload.get("interactive"))
    if kind in _SHALLOW_TYPES:
        return None if isinstance(payload.get(kind), dict) else _missing(f"The parameter {kind} is required.")
    known = ", ".join(sorted(_SHALLOW_TYPES)).upper()
    return invalid_parameter(f"Param type must be one of {{TEXT, INTERACTIVE, {known}}}")


def _validate_text(text: Any) -> Refusal | None:
    if not isinstance(text, dict) or not isinstance(text.get("body"), str) or not text["body"]:
        return invalid_parameter("The parameter text['body'] is required.")
    if len(text["body"]) > 4096:
        return invalid_parameter("Param text['body'] must be at most 4096 characters long.")
    return None


def _validate_interactive(interactive: Any) -> Refusal | None:
    if not isinstance(interactive, dict):
        return _missing("The parameter interactive is required.")
    kind = interactive.get("type")
    if kind in _SHALLOW_INTERACTIVE:
        return None
    if kind not in ("button", "list"):
        return invalid_parameter(
            "Param interactive['type'] must be one of {BUTTON, LIST, CTA_URL, PRODUCT, PRODUCT_LIST, FLOW}"
        )
    body = interactive.get("body")
    if not isinstance(body, dict) or "text" not in body:
        return _missing("The parameter interactive['body'] is required.")
    if not _length(body["text"], 1, 1024):
        return _invalid("Body text length invalid. Min length: 1, Max length: 1024")
    header = interactive.get("header")
    if header is not None and (
        not isinstance(header, dict) or (header.get("type") == "text" and not _length(header.get("text"), 1, 60))
    ):
        return _invalid("Header text length invalid. Min length: 1, Max length: 60")
    footer = interactive.get("footer")
    if footer is not None and (not isinstance(footer, dict) or not _length(footer.get("text"), 1, 60)):
        return _invalid("Footer text length invalid. Min length: 1, Max length: 60")
    action = interactive.get("action")
    if not isinstance(action, dict):
        return _missing("The parameter interactive['action'] is required.")
    return _validate_buttons(action) if kind == "button" else _validate_list(action)


def _validate_buttons(action: dict[str, Any]) -> Refusal | None:
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return _invalid("Invalid buttons count. Min allowed buttons: 1, Max allowed buttons: 3")
    ids, titles = set(), set()
    for button in buttons:
        reply = button.get("reply") if isinstance(button, dict) else None
        if not isinstance(button, dict) or button.get("type") != "reply" or not isinstance(reply, dict):
            return _invalid("Invalid button type. Allowed button types: reply")
        if not _length(reply.get("id"), 1, 256):
            return _invalid("Button ID length invalid. Min length: 1, Max length: 256")
        if not _length(reply.get("title"), 1, 20):
            return _invalid("Button title length invalid. Min length: 1, Max length: 20")
        if reply["id"] in ids:
            return _invalid(f"Duplicate button id: {reply['id']}")
        if reply["title"] in titles:
            return _invalid(f"Duplicate button title: {reply['title']}")
        ids.add(reply["id"])
        titles.add(reply["title"])
    return None


def _validate_list(action: dict[str, Any]) -> Refusal | None:
    if not _length(action.get("button"), 1, 20):
        return _invalid("Button text length invalid. Min length: 1, Max length: 20")
    sections = action.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
        return _invalid("Invalid sections count. Min allowed sections: 1, Max allowed sections: 10")
    row_ids: set[str] = set()
    for section in sections:
        if not isinstance(section, dict):
            return _invalid("Invalid section")
        title = section.get("title")
        if len(sections) > 1 and title is None:
            return _missing("Section title is required when there is more than one section")
        if title is not None and not _length(title, 1, 24):
            return _invalid("Section title length invalid. Min length: 1, Max length: 24")
        rows = section.get("rows")
        if not isinstance(rows, list) or not rows:
            return _invalid("Invalid rows count. Min allowed rows: 1")
        for row in rows:
            if not isinstance(row, dict) or not _length(row.get("id"), 1, 200):
                return _invalid("Row ID length invalid. Min length: 1, Max length: 200")
            if not _length(row.get("title"), 1, 24):
                return _invalid("Row title length invalid. Min length: 1, Max length: 24")
            if "description" in row and not _length(row["description"], 0, 72):
                return _invalid("Row description length invalid. Max length: 72")
            if row["id"] in row_ids:
                return _invalid(f"Duplicate row id: {row['id']}")
            row_ids.add(row["id"])
    if len(row_ids) > 10:
        return _invalid(f"Total row count exceed max allowed count: 10 (got {len(row_ids)})")
    return None


# ------------------------------------------------------------------------------------------- state
