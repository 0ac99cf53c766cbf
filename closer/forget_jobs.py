"""The closer's erasure jobs: forgetting a person is not a decision on their stream (nothing is appended
there), so it is not a command for the orchestrator; the closer runs it itself (``closer.forgetting``).

Two reasons, each a timer of the index like the others (``closer.deadlines``), so it survives restarts
and runs once:

* **customer_request** — the customer confirmed on WhatsApp (conversation ``erased``): due at once, run as
  soon as the goodbye's send is recorded (sent or failed), or at ``give_up_at`` if it never is (the sender
  down): the sender needs the phone to send it, so the goodbye goes first.
* **retention** — the customer's last lead ended, and they last wrote, more than ``PRIVACY_RETENTION_DAYS``
  ago, with no conversation open since.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.commands import CustomerKey

#: The ``type`` of a job's record in ``closer_timers.command`` (beside the timer commands' class names).
RECORD_TYPE = "ForgetPerson"


class ForgetReason(StrEnum):
    CUSTOMER_REQUEST = "customer_request"
    RETENTION = "retention"


#: ``PersonForgotten.requested_by`` for each reason.
REQUESTED_BY: Mapping[ForgetReason, str] = {
    ForgetReason.CUSTOMER_REQUEST: "customer (whatsapp)",
    ForgetReason.RETENTION: "retention",
}


class ForgetPerson(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    command_id: str = Field(min_length=1, max_length=200)
    customer_key: CustomerKey
    reason: ForgetReason
    #: The customer's last lead, if any (the timers index keeps one per row).
    lead_id: str = ""
    #: customer_request: the goodbye whose send is waited for, and until when.
    goodbye_reply_id: UUID | None = None
    give_up_at: datetime | None = None


def is_job_record(record: Mapping[str, Any]) -> bool:
    return record.get("type") == RECORD_TYPE


def job_record(job: ForgetPerson) -> dict[str, Any]:
    return {"type": RECORD_TYPE, **job.model_dump(mode="json")}


def job_from_record(record: Mapping[str, Any]) -> ForgetPerson:
    return ForgetPerson.model_validate({k: v for k, v in record.items() if k != "type"})
