"""Events of an operator account's stream (``operator-<name>``): who may use the console, and how.

Every change names the operator who made it (``by``: an operator's name, or ``cli`` for the command line
run on the server), so the organisation can tell who granted what.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from contracts.events import Event

#: Lower-case login names: they become stream ids and appear in URLs.
OPERATOR_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,31}$"


class OperatorRole(StrEnum):
    #: Reads everything, changes nothing.
    VIEWER = "viewer"
    #: Also takes handed-over conversations and writes to customers.
    AGENT = "agent"
    #: Also manages technicians and operators.
    ADMIN = "admin"


class OperatorAdded(Event):
    TYPE = "OperatorAdded"
    SCHEMA_VERSION = 1

    name: str = Field(pattern=OPERATOR_NAME_PATTERN)
    role: OperatorRole
    by: str = Field(min_length=1)
    added_at: datetime


class OperatorPasswordSet(Event):
    """The argon2 hash of the new password (never the password); the latest one is the one that counts."""

    TYPE = "OperatorPasswordSet"
    SCHEMA_VERSION = 1

    name: str = Field(pattern=OPERATOR_NAME_PATTERN)
    password_hash: str = Field(pattern=r"^\$argon2id\$")
    by: str = Field(min_length=1)
    set_at: datetime


class OperatorDisabled(Event):
    TYPE = "OperatorDisabled"
    SCHEMA_VERSION = 1

    name: str = Field(pattern=OPERATOR_NAME_PATTERN)
    by: str = Field(min_length=1)
    disabled_at: datetime


class DeadLetterRedriven(Event):
    """An operator handed a parked message back to the consumer it came from (stream ``dead-letters``)."""

    TYPE = "DeadLetterRedriven"
    SCHEMA_VERSION = 1

    sequence: int = Field(ge=1)
    source: str = Field(min_length=1)
    original_subject: str = Field(min_length=1)
    reason: str
    by: str = Field(min_length=1)
    redriven_at: datetime
