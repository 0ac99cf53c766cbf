"""``/v1/privacy``: a person's rights under Chile's Law 21.719 — export (access, portability) and erasure —
for admins, and the record of every request. The bearer token says the client may call the API, the body
names the admin account that asks; the request and its outcome are an event naming it, without personal
data (``privacy-requests``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from conectapro.data_export import requested_phone
from conectapro.privacy_requests import privacy_requests
from contracts.operator_events import OPERATOR_NAME_PATTERN
from contracts.privacy_events import ErasureOutcome
from projections.operator_api.cursor import InvalidCursor, decode_request_cursor, request_cursor
from projections.operator_api.deps import State
from projections.operator_api.errors import invalid, responses
from projections.operator_api.params import Cursor, Instant, Limit
from projections.operator_api.privacy_actions import NotAnAdmin, PrivacyUnavailable, admin_named, export_for, forget_for

router = APIRouter(prefix="/privacy", tags=["personal data (Law 21.719)"])


class PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operator: str = Field(pattern=OPERATOR_NAME_PATTERN, description="The admin account that asks")
    phone: str = Field(min_length=1, max_length=32, description="The person's WhatsApp number, e.g. 56987654321")


class ForgetIn(PersonIn):
    force: bool = Field(default=False, description="Forget even while a technician holds or accepted their job")


class ExportOut(BaseModel):
    request_id: str
    person_key: str | None = Field(description="None for a technician who never wrote nor was written to")
    document: dict[str, Any] = Field(description="Everything held about the person (see `conectapro privacy export`)")


class ForgetOut(BaseModel):
    outcome: ErasureOutcome = Field(description="`forgotten`, or `already_forgotten` when nothing was known")
    person_key: str | None
    streams: list[str] = Field(description="Streams whose personal fields now read [suprimido]")
    jetstream_messages_removed: int


class PrivacyRequestOut(BaseModel):
    request_id: str
    kind: str = Field(description="`export` or `erasure`")
    at: datetime = Field(description="When it was answered")
    asked_at: datetime = Field(description="When the person asked (earlier for an erasure asked on WhatsApp)")
    requested_by: str
    person_key: str | None
    outcome: str
    detail: str


class PrivacyRequestPage(BaseModel):
    items: list[PrivacyRequestOut]
    next_cursor: str | None = Field(description="The next page's cursor; null once the record's end is reached")


async def _checked(state: State, body: PersonIn) -> str:
    """The phone's digits, once the operator is known to be an admin (422 / 403 otherwise)."""
    digits = requested_phone(body.phone)
    if digits is None:
        raise invalid("body", "phone", "not a WhatsApp number: 8 to 15 digits with the country code")
    try:
        if await admin_named(state, body.operator) is None:
            raise invalid("body", "operator", "no operator account has that name")
    except NotAnAdmin as refused:
        raise HTTPException(403, detail=str(refused)) from refused
    return digits


@router.post("/export", response_model=ExportOut, responses=responses(400, 401, 403, 404, 422, 503))
async def export_person(state: State, body: PersonIn) -> ExportOut:
    """Everything the event store holds about the person with this phone, as one document (access and
    portability). 404 when the phone is not known (never seen, or forgotten); the request is recorded
    (``DataExported``) either way."""
    digits = await _checked(state, body)
    try:
        done = await export_for(state, digits, by=body.operator)
    except PrivacyUnavailable as error:
        raise HTTPException(503, detail=str(error)) from error
    if done.document is None:
        raise HTTPException(404, detail=f"nothing is known of this phone (never seen, or forgotten); "
                                        f"request {done.request_id} recorded")  # fmt: skip
    return ExportOut(request_id=done.request_id, person_key=done.person_key, document=done.document)


@router.post("/forget", response_model=ForgetOut, responses=responses(400, 401, 403, 409, 422, 503))
async def forget_person(state: State, body: ForgetIn) -> ForgetOut:
    """Erase the person with this phone (crypto-shredding; their JetStream messages deleted). Idempotent:
    a phone not known is `already_forgotten`. 409 while a technician holds or accepted their job, unless
    `force`. The request and its outcome are a ``PersonForgotten`` event naming the admin."""
    digits = await _checked(state, body)
    try:
        erasure = await forget_for(state, digits, by=body.operator, force=body.force)
    except PrivacyUnavailable as error:
        raise HTTPException(503, detail=str(error)) from error
    if erasure.outcome == ErasureOutcome.REFUSED_JOB_IN_PROGRESS:
        reason = (f"person {erasure.person_key or erasure.provider_id} has a job in progress (a technician holds "
                  "or accepted it, or, for a technician, one they accepted): not forgotten; ask again with force "
                  "to forget anyway")  # fmt: skip
        raise HTTPException(409, detail=reason)
    return ForgetOut(outcome=erasure.outcome, person_key=erasure.person_key, streams=list(erasure.streams),
                     jetstream_messages_removed=erasure.jetstream_messages_removed)  # fmt: skip


@router.get("/requests", response_model=PrivacyRequestPage, responses=responses(401, 422, 503))
async def list_requests(
    state: State,
    since: Annotated[Instant | None, Query(description="Only requests from then on (RFC 3339)")] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> PrivacyRequestPage:
    """Export and erasure requests, oldest first, a page at a time: when, who asked, for which person key, what
    was done (no personal data) — the proof each one was answered within the law's 30 days. Follow
    `next_cursor` until it is null to read every request (a page may hold fewer than `limit`)."""
    try:
        after = decode_request_cursor(cursor) if cursor is not None else 0
    except InvalidCursor as error:
        raise invalid("query", "cursor", str(error)) from error
    page = await privacy_requests(state.store, since=since, after=after, limit=limit)
    next_cursor = None if page.next_after is None else request_cursor(page.next_after)
    return PrivacyRequestPage(items=[PrivacyRequestOut(**vars(r)) for r in page.items], next_cursor=next_cursor)
