"""Reading a webhook whose every part can be read but a few: those set aside, the others kept.

One POST batches up to 1,000 updates (entries × changes × messages, statuses, errors). One update the
models refuse — a message without its id or type, a status without its status — must not cost the others
their answer: the payload is validated once, and when that fails each problem's location names the
smallest part it spoils (an update; else the change holding it; else the entry). Those parts are cut out
and the rest validated again. Each part cut out becomes a webhook of its own — its entry and change around
it, and only the contacts of its sender — for a person to read in the dead-letter stream.

Only when the envelope itself is wrong (no ``object``, ``entry`` not a list) is nothing readable: the
caller parks the body whole, as for one that is not JSON.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from contracts.lone_surrogates import dumps_keeping_lone_surrogates
from contracts.whatsapp import WebhookPayload
from infra.failure_facts import describe_problems

#: The lists of a change's value that hold updates, and what one of their items is.
UPDATE_LISTS = {"messages": "message", "statuses": "status", "errors": "error"}

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class UnreadablePart:
    #: message, status, error, change or entry
    kind: str
    #: Where it was in the POST, e.g. ``entry.0.changes.1.value.messages.3``.
    where: str
    #: What was wrong: the models' facts (field paths, error types), never the part's words.
    reason: str
    #: A webhook holding only this part, as JSON: what an operator reads.
    body: bytes
    #: The WhatsApp id (phone, or business-scoped user id) of the one person the part is about, if known.
    person: str | None

    @property
    def letter_key(self) -> str:
        """Same part of the same POST, same key: Meta's retries of it are parked once."""
        return hashlib.sha256(self.body).hexdigest()


def read_webhook(data: object) -> tuple[WebhookPayload, list[UnreadablePart]]:
    """The payload without its unreadable parts, and those parts.

    Raises the models' ValidationError when the envelope itself cannot be read."""
    try:
        return WebhookPayload.model_validate(data), []
    except ValidationError as error:
        spoiled = _spoiled_parts(error.errors())
        if spoiled is None or not isinstance(data, dict):
            raise
        try:
            payload = WebhookPayload.model_validate(_without(data, spoiled))
            parts = [_part(data, path, problems) for path, problems in spoiled.items()]
        except (ValidationError, LookupError, TypeError):
            raise error from None  # not a shape this module understands: the whole body is parked
    return payload, parts


def _part_path(loc: tuple[str | int, ...]) -> Path | None:
    """The smallest part a problem at ``loc`` spoils: an update, a change or an entry (None: the envelope)."""
    if len(loc) < 2 or loc[0] != "entry" or not isinstance(loc[1], int):
        return None
    if len(loc) < 4 or loc[2] != "changes" or not isinstance(loc[3], int):
        return loc[:2]
    if len(loc) >= 7 and loc[4] == "value" and loc[5] in UPDATE_LISTS and isinstance(loc[6], int):
        return loc[:7]
    return loc[:4]  # the change's field, its value, its metadata or contacts: who sent what is unclear


def _spoiled_parts(problems: Iterable[ErrorDetails]) -> dict[Path, list[ErrorDetails]] | None:
    by_path: dict[Path, list[ErrorDetails]] = {}
    for problem in problems:
        path = _part_path(problem["loc"])
        if path is None:
            return None
        by_path.setdefault(path, []).append(problem)
    # A part inside another spoiled part goes with it (an update of a change whose metadata is wrong).
    outermost: dict[Path, list[ErrorDetails]] = {}
    for path in sorted(by_path, key=len):
        enclosing = next((p for p in outermost if path[: len(p)] == p), None)
        outermost.setdefault(enclosing or path, []).extend(by_path[path])
    return outermost


def _without(data: dict[str, Any], spoiled: dict[Path, list[ErrorDetails]]) -> dict[str, Any]:
    """A copy of the payload with the spoiled parts cut out (the caller's mapping is left as it was)."""
    entries = []
    for e, entry in enumerate(data["entry"]):
        if ("entry", e) in spoiled:
            continue
        if not any(path[:2] == ("entry", e) for path in spoiled):
            entries.append(entry)
            continue
        changes = []
        for c, change in enumerate(entry["changes"]):
            at = ("entry", e, "changes", c)
            if at in spoiled:
                continue
            value = dict(change["value"])
            for name in UPDATE_LISTS:
                if any(path[:6] == (*at, "value", name) for path in spoiled):
                    value[name] = [u for i, u in enumerate(value[name]) if (*at, "value", name, i) not in spoiled]
            changes.append({**change, "value": value})
        entries.append({**entry, "changes": changes})
    return {**data, "entry": entries}


def _part(data: dict[str, Any], path: Path, problems: list[ErrorDetails]) -> UnreadablePart:
    entry = data["entry"][path[1]]
    person: str | None = None
    if len(path) == 2:
        kind, around = "entry", entry
    else:
        change = entry["changes"][path[3]]
        if len(path) == 4:
            kind, around_change = "change", change
        else:
            name = str(path[5])
            kind, update = UPDATE_LISTS[name], change["value"][name][path[6]]
            value, person = _value_of_one(change["value"], name, update)
            around_change = {**change, "value": value}
        around = {**{k: v for k, v in entry.items() if k != "changes"}, "changes": [around_change]}
    webhook = {"object": data.get("object"), "entry": [around]}
    where = ".".join(str(step) for step in path)
    reason = f"unreadable {kind} at {where}: {describe_problems(problems)}"
    return UnreadablePart(kind, where, reason, _dumps(webhook), person)


def _value_of_one(value: dict[str, Any], name: str, update: Any) -> tuple[dict[str, Any], str | None]:
    """The change's value around one update: its metadata and the like, only the contacts of its sender
    (nobody else's data goes with it), and the update; and who the sender is, when that can be told."""
    rest = {k: v for k, v in value.items() if k != "contacts" and k not in UPDATE_LISTS}
    contacts, person = _sender_of(update, value.get("contacts"), name)
    if contacts:
        rest["contacts"] = contacts
    return {**rest, name: [update]}, person


def _sender_of(update: Any, contacts: Any, name: str) -> tuple[list[Any], str | None]:
    """Mirrors ``contracts.inbound``: a message's ``from`` (a status's ``recipient_id``) or its business-scoped
    user id, else the change's only contact. Account errors name nobody."""
    if name == "errors" or not isinstance(update, dict):
        return [], None
    wa_field, user_field = ("from", "from_user_id") if name == "messages" else ("recipient_id", "recipient_user_id")
    wa_id, user_id = _whatsapp_id(update.get(wa_field)), _whatsapp_id(update.get(user_field))
    known = [c for c in contacts if isinstance(c, dict)] if isinstance(contacts, list) else []
    if wa_id or user_id:
        mine = [c for c in known if _names(c, "wa_id", wa_id) or _names(c, "user_id", user_id)]
    else:
        mine = known if len(known) == 1 else []
    if not wa_id and not user_id and len(mine) == 1:
        wa_id, user_id = _whatsapp_id(mine[0].get("wa_id")), _whatsapp_id(mine[0].get("user_id"))
    return mine, wa_id or user_id


def _names(contact: dict[str, Any], field: str, whatsapp_id: str | None) -> bool:
    return whatsapp_id is not None and _whatsapp_id(contact.get(field)) == whatsapp_id


def _whatsapp_id(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # Meta has sent ids as JSON numbers
    return None


def _dumps(webhook: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(webhook)
    except TypeError:  # a lone surrogate (``contracts.lone_surrogates``): written as the escape it came as
        return dumps_keeping_lone_surrogates(webhook)
