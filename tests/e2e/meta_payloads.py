"""Hypothesis strategies of Meta-shaped webhook deliveries, and what each one promises.

A :class:`Delivery` is a model of one POST: its updates (messages of every type, statuses, value-level
errors), how they are spread over entries and changes, and which fields Meta left out or added. The test
renders it to the bytes Meta would sign and reads its promises off the model (which ids must be published,
who can be answered), never off the code under test. Phones and wamids are indexes in the model; the
test gives each example a namespace of its own, so examples sharing one running pipeline never collide.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import orjson
from hypothesis import strategies as st

from contracts.customer_text import clean

PHONE_NUMBER_ID = "106540352242922"

#: Strings a person or a broken client may send: controls, lone surrogates, bidi controls, SQL, HTML.
_ODD_PIECES = [
    "\x00", "\x01", "\x1b[31m", "\x7f", "\x85", "\r\n", "\t", "\u202e", "\u202d", "\u2066", "\u200f", "\ufeff",
    "\ud800", "\udfff", "\udbff", "e\u0301", "n\u0303", "👩‍🔧", "🇨🇱", "\U0010ffff", "'; DROP TABLE events; --",
    "<script>alert(1)</script>", "{{7*7}}", "%s%n", "\\u0000", "null", "",
]  # fmt: skip
_WORDS = [
    "hola", "necesito", "gasfiter", "electricista", "cerrajero", "urgente", "hoy", "en", "ñuñoa", "providencia",
    "macul", "se", "cortó", "la", "luz", "cañería", "rota", "sí", "confirmo", "estado", "cancelar", "1234",
]  # fmt: skip

_PIECE = st.one_of(
    st.sampled_from(_WORDS),
    st.sampled_from(_ODD_PIECES),
    st.text(max_size=12),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),  # lone surrogates, as JSON escapes
)
_SPOKEN = st.lists(st.one_of(st.sampled_from(_WORDS), _PIECE), min_size=1, max_size=12).map(" ".join)
#: The big ones: 10k emoji, a 5,000-character word, a text past WhatsApp's 4,096 characters.
_HUGE = st.sampled_from(["🔧" * 10_000, "a" * 5_000, "gasfiter " + "ñ" * 4_100, "\u202e" + "x" * 5_000])
HOSTILE_TEXT = st.one_of(_SPOKEN, _SPOKEN, _SPOKEN, _HUGE)

#: Whatever JSON a new Meta field could hold.
_SCALAR = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False, allow_infinity=False)
_JSON = st.recursive(
    _SCALAR | _PIECE,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
_NEW_KEYS = st.sampled_from(["x_new", "edited", "forwarded", "référé", "\ud800k"])
EXTRA_FIELDS = st.dictionaries(_NEW_KEYS, _JSON, max_size=2)

MESSAGE_TYPES = (
    "text", "button_reply", "list_reply", "button", "location", "image", "audio", "document", "sticker",
    "video", "contacts", "reaction", "unsupported", "system", "errors", "brand_new_type",
)  # fmt: skip
STATUSES = ("sent", "delivered", "read", "failed", "deleted", "warning")


@dataclass(frozen=True)
class Message:
    #: Index of the wamid within the example (two messages with one index share their wamid: a duplicate).
    id: int
    sender: int
    type: str
    text: str
    #: The second free string of a type (a title, a caption's file name, an address, an emoji).
    other: str
    name: str
    with_from: bool = True
    with_contact: bool = True
    with_timestamp: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Status:
    id: int
    status: str
    recipient: int
    error_title: str | None = None
    callback: str | None = None


@dataclass(frozen=True)
class AccountError:
    code: int
    title: str


Update = Message | Status | AccountError


@dataclass(frozen=True)
class Delivery:
    updates: tuple[Update, ...]
    #: How many consecutive updates each change holds (the rest go in one last change).
    changes: tuple[int, ...] = ()
    #: Write lone surrogates and every non-ASCII character as JSON escapes (Python's encoder) or as UTF-8.
    escaped: bool = False
    #: A field every webhook has is left out (the first message's id, else the first change's value): that
    #: part is parked by the ingress, the rest of the POST is read as usual.
    broken: bool = False
    #: Meta delivers the same bytes again afterwards.
    retried: bool = False


@dataclass(frozen=True)
class Names:
    """Where one example lives: its phones and wamids."""

    space: int
    #: Which delivery of the example (value-level errors have no id: their details name it).
    delivery: int = 0

    def phone(self, sender: int) -> str:
        return f"569{self.space % 10_000:04d}{sender:04d}"

    def wamid(self, index: int) -> str:
        return f"wamid.HYP{self.space}x{index}"

    def outbound_wamid(self, index: int) -> str:
        return f"wamid.OUT{self.space}x{index}"


def messages(max_senders: int) -> st.SearchStrategy[Message]:
    return st.builds(
        Message,
        id=st.integers(0, 40),
        sender=st.integers(0, max_senders - 1),
        type=st.sampled_from(MESSAGE_TYPES),
        text=HOSTILE_TEXT,
        other=_SPOKEN,
        name=st.one_of(st.just("Camila"), _SPOKEN, _HUGE),
        with_from=st.booleans(),
        with_contact=st.booleans(),
        with_timestamp=st.booleans(),
        extra=EXTRA_FIELDS,
    ).map(_mostly)


def _mostly(message: Message) -> Message:
    # `from` is missing from a few real payloads only; keep it on most messages so most get answered.
    if not message.with_from and message.id % 4:
        return dataclasses.replace(message, with_from=True)
    return message


STATUS = st.builds(
    Status,
    id=st.integers(0, 40),
    status=st.sampled_from(STATUSES),
    recipient=st.integers(0, 7),
    error_title=st.none() | _SPOKEN,
    callback=st.none() | st.sampled_from(["reply:not-a-uuid", "reply:6f1c5b0e-7d1b-4a55-9a55-7a2f5c1b9d10"]) | _PIECE,
)
ACCOUNT_ERROR = st.builds(AccountError, code=st.integers(0, 200_000), title=_SPOKEN)


def deliveries(max_updates: int, max_senders: int = 8) -> st.SearchStrategy[Delivery]:
    update = st.one_of(messages(max_senders), messages(max_senders), messages(max_senders), STATUS, ACCOUNT_ERROR)
    return st.builds(
        Delivery,
        updates=st.lists(update, min_size=1, max_size=max_updates).map(tuple),
        changes=st.lists(st.integers(1, 6), max_size=4).map(tuple),
        escaped=st.booleans(),
        broken=st.integers(0, 19).map(lambda n: n == 0),
        retried=st.integers(0, 4).map(lambda n: n == 0),
    )


def body_of(delivery: Delivery, names: Names) -> bytes:
    """The bytes Meta would sign for ``delivery``."""
    payload = _payload(delivery, names)
    if delivery.escaped or _has_lone_surrogate(payload):
        return json.dumps(payload).encode()
    return orjson.dumps(payload)


def _has_lone_surrogate(payload: Any) -> bool:
    try:
        orjson.dumps(payload)
    except TypeError:
        return True
    return False


def _payload(delivery: Delivery, names: Names) -> dict[str, Any]:
    changes = [{"field": "messages", "value": _value(group, names, n)} for n, group in enumerate(_groups(delivery))]
    entries: list[dict[str, Any]] = [
        {"id": "102290129340398", "changes": changes[i : i + 2]} for i in range(0, len(changes), 2)
    ]
    payload: dict[str, Any] = {"object": "whatsapp_business_account", "entry": entries}
    if delivery.broken:
        # A message without its id, or a change without its value: a part of the webhook we cannot read.
        first = entries[0]["changes"][0]
        if first["value"].get("messages"):
            del first["value"]["messages"][0]["id"]
        else:
            del first["value"]
    return payload


def broken_part(delivery: Delivery, names: Names) -> tuple[str, dict[str, Any]]:
    """What of a broken delivery the ingress parks: ("message", the message as sent) or ("change", the change
    as sent), found in its letter at ``entry[0].changes[0]`` (``.value.messages[0]`` for a message)."""
    first = _payload(delivery, names)["entry"][0]["changes"][0]
    if "value" in first:
        return "message", first["value"]["messages"][0]
    return "change", first


def _value(group: list[Update], names: Names, n: int) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "56229990000", "phone_number_id": PHONE_NUMBER_ID},
    }
    contacts: dict[str, dict[str, Any]] = {}
    for update in group:
        if isinstance(update, Message):
            value.setdefault("messages", []).append(_message(update, names))
            if update.with_contact:
                phone = names.phone(update.sender)
                contacts.setdefault(phone, {"profile": {"name": update.name}, "wa_id": phone})
        elif isinstance(update, Status):
            value.setdefault("statuses", []).append(_status(update, names))
        else:
            details = f"example {names.space}.{names.delivery}, change {n}"
            error = {"code": update.code, "title": update.title, "message": update.title}
            error["error_data"] = {"details": details}
            value.setdefault("errors", []).append(error)
    if contacts:
        value["contacts"] = list(contacts.values())
    return value


def _message(m: Message, names: Names) -> dict[str, Any]:
    phone = names.phone(m.sender)
    message: dict[str, Any] = {"id": names.wamid(m.id), "type": m.type, **m.extra}
    if m.with_from:
        message["from"] = phone
    if m.with_timestamp:
        message["timestamp"] = "1760000000"
    message.update(_content(m, names))
    return message


def _content(m: Message, names: Names) -> dict[str, Any]:
    media = {"id": f"media{m.id}", "mime_type": "image/jpeg", "sha256": "c2hh"}
    match m.type:
        case "text":
            return {"text": {"body": m.text}}
        case "button_reply" | "list_reply":
            reply = {"id": m.other, "title": m.text}
            return {"type": "interactive", "interactive": {"type": m.type, m.type: reply}}
        case "button":
            return {"button": {"payload": m.other, "text": m.text}}
        case "location":
            return {"location": {"latitude": -33.45, "longitude": -70.6, "name": m.other, "address": m.text}}
        case "image" | "video" | "document":
            return {m.type: {**media, "caption": m.text, "filename": m.other}}
        case "audio" | "sticker":
            return {m.type: media}
        case "contacts":
            card = {"name": {"formatted_name": m.text, "first_name": m.other}, "phones": [{"phone": "+56 9 1234 5678"}]}
            return {"contacts": [card]}
        case "reaction":
            return {"reaction": {"message_id": names.wamid(m.id + 1), "emoji": m.other[:8]}}
        case "system":
            return {"system": {"body": m.text, "type": "user_changed_number", "wa_id": names.phone(m.sender)}}
        case "unsupported" | "errors":
            error = {"code": 131051, "title": "Message type unknown", "error_data": {"details": m.text}}
            return {"type": "unsupported", "errors": [error], "unsupported": {"type": m.other[:20]}}
    return {m.type: {"body": m.text}}


def _status(s: Status, names: Names) -> dict[str, Any]:
    status: dict[str, Any] = {
        "id": names.outbound_wamid(s.id),
        "status": s.status,
        "timestamp": "1760000000",
        "recipient_id": names.phone(s.recipient),
    }
    if s.error_title is not None:
        status["errors"] = [{"code": 131026, "title": s.error_title}]
    if s.callback is not None:
        status["biz_opaque_callback_data"] = s.callback
    return status


# --------------------------------------------------------------------------------------------- promises


@dataclass(frozen=True)
class Promises:
    """What the pipeline owes for one delivery that is a webhook."""

    #: Every update's id as published (``Nats-Msg-Id``) but the errors', first occurrence only.
    ids: frozenset[str]
    #: How many distinct value-level errors (their ids are content hashes: counted, not named).
    errors: int
    #: Messages naming their sender: each gets a reply or is parked.
    answerable: frozenset[str]
    #: Messages naming nobody: each is recorded as an account error.
    senderless: frozenset[str]
    #: Readable updates in the POST, duplicates included.
    updates: int
    #: Parts of the POST the ingress parks (a broken delivery's message without its id, or change without
    #: its value, with every update in it).
    parked: int = 0


def promises(delivery: Delivery, names: Names) -> Promises:
    ids: dict[str, None] = {}
    errors: set[tuple[int, str | None, int]] = set()
    answerable: set[str] = set()
    senderless: set[str] = set()
    unreadable = _unreadable(delivery)
    for n, group in enumerate(_groups(delivery)):
        single_contact = len({m.sender for m in group if isinstance(m, Message) and m.with_contact}) == 1
        for i, update in enumerate(group):
            if n == 0 and i in unreadable:
                continue
            if isinstance(update, AccountError):
                # Two errors whose texts differ only by what normalisation removes are one error.
                errors.add((update.code, clean(update.title), n))
                continue
            if isinstance(update, Status):
                ids.setdefault(f"{names.outbound_wamid(update.id)}:{update.status}")
                continue
            wamid = names.wamid(update.id)
            if wamid in ids:
                continue  # a repeated wamid: the first one counts
            ids[wamid] = None
            # Without `from`, Meta's rule: the change's only contact is the sender.
            named = update.with_from or single_contact
            (answerable if named else senderless).add(wamid)
    readable = len(delivery.updates) - len(unreadable)
    parked = int(delivery.broken)
    return Promises(frozenset(ids), len(errors), frozenset(answerable), frozenset(senderless), readable, parked)


def _unreadable(delivery: Delivery) -> set[int]:
    """Where in the first change the updates are that a broken delivery loses to the dead-letter stream: its
    first message, or every update of it when it holds no message."""
    if not delivery.broken:
        return set()
    first = _groups(delivery)[0]
    message = next((i for i, u in enumerate(first) if isinstance(u, Message)), None)
    return {message} if message is not None else set(range(len(first)))


def _groups(delivery: Delivery) -> list[list[Update]]:
    groups: list[list[Update]] = []
    rest = list(delivery.updates)
    for size in delivery.changes:
        if rest:
            groups.append(rest[:size])
            rest = rest[size:]
    if rest:
        groups.append(rest)
    return groups
