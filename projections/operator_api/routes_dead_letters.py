"""``/v1/deadletters``: what was parked in the dead-letter stream, with the reason, oldest first."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from projections.operator_api.dead_letters import DeadLetter, DeadLetters, DeadLetterSource, DeadLettersUnavailable
from projections.operator_api.deps import ApiState, State
from projections.operator_api.errors import responses
from projections.operator_api.schemas import DeadLetterDetailOut, DeadLetterOut, DeadLetterPage

router = APIRouter(tags=["dead letters"])

#: Sequences are 64-bit in JetStream; nothing near this many letters will ever be parked.
MAX_SEQUENCE = 2**53


def _reader(state: ApiState) -> DeadLetters:
    if state.dead_letters is None:
        raise HTTPException(503, detail="the dead-letter stream is not configured here")
    return state.dead_letters


def _unavailable(error: DeadLettersUnavailable) -> HTTPException:
    return HTTPException(503, detail="the dead-letter stream is unavailable; try again shortly")


def _out(letter: DeadLetter) -> DeadLetterOut:
    return DeadLetterOut(
        sequence=letter.sequence,
        source=letter.source,
        reason=letter.reason,
        parked_at=letter.parked_at,
        original_subject=letter.original_subject,
        bytes=len(letter.payload),
    )


@router.get("/deadletters", response_model=DeadLetterPage, responses=responses(401, 422, 503))
async def list_dead_letters(
    state: State,
    source: Annotated[DeadLetterSource | None, Query(description="Only the letters parked by this service")] = None,
    after: Annotated[int, Query(ge=0, le=MAX_SEQUENCE, description="Only letters with a later sequence")] = 0,
    limit: Annotated[int, Query(ge=1, le=200, description="Letters per page (1-200)")] = 50,
) -> DeadLetterPage:
    """Parked messages, oldest first, each with who parked it, when and why (the payload: by sequence)."""
    try:
        letters = await _reader(state).page(after=after, limit=limit + 1, source=source)
    except DeadLettersUnavailable as error:
        raise _unavailable(error) from error
    page = letters[:limit]
    next_after = page[-1].sequence if len(letters) > limit else None
    return DeadLetterPage(items=[_out(letter) for letter in page], next_after=next_after)


@router.get("/deadletters/{sequence}", response_model=DeadLetterDetailOut, responses=responses(401, 404, 422, 503))
async def get_dead_letter(
    state: State, sequence: Annotated[int, Path(ge=1, le=MAX_SEQUENCE, description="Its sequence")]
) -> DeadLetterDetailOut:
    """One parked message with its payload, as text when it is UTF-8, and always as base64."""
    try:
        letter = await _reader(state).one(sequence)
    except DeadLettersUnavailable as error:
        raise _unavailable(error) from error
    if letter is None:
        raise HTTPException(404, detail=f"no dead letter {sequence}")
    try:
        text: str | None = letter.payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return DeadLetterDetailOut(
        **_out(letter).model_dump(), payload_text=text, payload_base64=base64.b64encode(letter.payload).decode()
    )
