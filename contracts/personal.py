"""Which fields of which events are personal data, and whose (Chile's Law 21.719; DESIGN.md "Personal data").

Declared here, next to the contracts, and applied elsewhere: the event store seals these fields with the
key of the person the stream belongs to (``privacy.codec``), and a forgotten person's fields read as
:data:`SUPPRESSED`. A path names a field of the event's ``data``; a dotted path a field of a nested object.
Comunas, services, urgencies, states and ids are not personal here: they are what the audit and the read
models keep working on after a person is forgotten. A technician's streams (``provider-<id>``) are theirs:
their registration's name and phone are sealed with their own key. The technician's name and phone in a
customer's stream (``LeadAssigned``, the replies about the job) are part of that customer's record of their
job: sealed with the customer's key, and blanked in the read models when the technician is forgotten.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any, Final, TypeVar

from pydantic import BaseModel

#: What a forgotten personal value reads as, everywhere (replay, timeline, read models, export).
SUPPRESSED: Final = "[suprimido]"

_INTENT = ("address", "problem_type")

#: Event type → paths of its personal fields.
PERSONAL_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "MessageReceived": ("phone", "profile_name", "text"),
    "IntentExtracted": (
        "raw_output",
        *(f"intent.{name}" for name in _INTENT),
        "llm.raw_output",
        *(f"llm.proposed.{name}" for name in _INTENT),
        *(f"llm.rules.{name}" for name in _INTENT),
    ),
    "LeadDrafted": ("phone",),
    "LeadAssigned": ("provider_name", "provider_phone"),
    "ProviderRegistered": ("name", "phone"),
    "ProviderUpdated": ("name", "phone"),
    "LeadFieldsCaptured": ("fields.problem", "fields.address"),
    "LeadSubmitted": ("fields.problem", "fields.address"),
    # The body may hold the customer's address and problem (a summary, an offer); buttons are fixed texts.
    "ReplyQueued": ("to", "message.body"),
    "ReplyReworded": ("original", "reworded"),
}

#: Command type → its personal fields. A decision records its timer command in its events' metadata, which
#: nothing seals: these fields are recorded as :data:`SUPPRESSED` there (the events the decision made of them
#: are sealed). The apology's phone only addresses a customer whose stream does not know them yet.
PERSONAL_COMMAND_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {"ApologiseForFailedMessage": ("phone",)}

M = TypeVar("M", bound=BaseModel)


def as_recorded(command: M) -> M:
    """The command as a decision's metadata keeps it: its personal fields suppressed."""
    fields = PERSONAL_COMMAND_FIELDS.get(type(command).__name__)
    if not fields:
        return command
    return command.model_copy(update=dict.fromkeys(fields, SUPPRESSED))


#: Stream prefixes whose streams belong to one person: ``<prefix><person key>``.
_PERSON_STREAM_PREFIXES: Final = (
    "customer-", "outbound-customer-", "deliveries-", "provider-", "outbound-provider-"
)  # fmt: skip


def person_of_stream(stream_id: str) -> str | None:
    """The key of the person a stream's personal fields belong to, or None for streams of nobody's."""
    for prefix in _PERSON_STREAM_PREFIXES:
        if stream_id.startswith(prefix):
            return stream_id[len(prefix) :]
    return None


def personal_value(data: dict[str, Any], path: str) -> Any:
    """The value at ``path`` of an event's data (None when absent)."""
    value: Any = data
    for name in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def with_personal_value(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``data`` with ``path`` set to ``value``: the dicts along the path copied, the input left as it was."""
    head, _, rest = path.partition(".")
    copy = dict(data)
    copy[head] = with_personal_value(data[head], rest, value) if rest else value
    return copy


def suppressed(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """The data as it reads once its person is forgotten: every non-null personal value suppressed."""
    for path in PERSONAL_FIELDS.get(event_type, ()):
        if personal_value(data, path) is not None:
            data = with_personal_value(data, path, SUPPRESSED)
    return data


def forgotten_paths(event_type: str, data: dict[str, Any]) -> list[str]:
    """The personal paths of this (opened) data whose value was forgotten."""
    return [path for path in PERSONAL_FIELDS.get(event_type, ()) if personal_value(data, path) == SUPPRESSED]


#: A WhatsApp message id as Meta writes it: ``wamid.`` + base64 (either alphabet).
WAMID: Final = re.compile(r"wamid\.[A-Za-z0-9+/=_-]+")
_PHONE_DIGITS = re.compile(rb"\d{8,}")


def wamid_carries_phone(wamid: str) -> bool:
    """Whether a wamid's base64 body decodes to bytes holding a phone number (a run of 8+ digits), as
    Meta's do: ``wamid.HBgLNTY5ODc2NTQzMjEV…`` holds ``56987654321`` (``privacy/wamids.py``)."""
    body = wamid.removeprefix("wamid.")
    if body == wamid:
        return False
    standard = body.replace("-", "+").replace("_", "/")
    try:
        decoded = base64.b64decode(standard + "=" * (-len(standard) % 4))
    except (binascii.Error, ValueError):
        return False
    return _PHONE_DIGITS.search(decoded) is not None
