"""Structured extraction of the Intent from free text, and the field-by-field check of what came back.

The provider is asked for the strict schema generated from ``contracts.intent.Intent``; the answer is
validated again with pydantic, one field at a time, because an OpenAI-compatible server may not enforce
the schema: a value outside an allowlist becomes null and is reported as dropped; an answer that is not a
JSON object, or has no valid confidence, is no result at all.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from contracts.intent import Intent
from contracts.llm import NoResultReason, UnderstandReply, UnderstandRequest
from llm_adapter.gateway import Gateway
from llm_adapter.prompt_templates import EXTRACT, expecting_context
from llm_adapter.strict_schema import response_format

INTENT_RESPONSE_FORMAT = response_format("intent", Intent)
#: The schema's answer is about 60 tokens; room for longer strings, not for a runaway answer.
MAX_COMPLETION_TOKENS = 200
#: A free-text field longer than this is not a field but a paragraph.
MAX_FIELD_CHARS = 200
_FREE_TEXT_FIELDS = ("comuna", "problem_type", "address")


class IntentParser:
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def understand(self, request: UnderstandRequest) -> UnderstandReply:
        answer, content = await self._gateway.ask_json(
            "understand",
            EXTRACT,
            request,
            request.text,
            expecting_context(request.expecting),
            max_tokens=MAX_COMPLETION_TOKENS,
            response_format=INTENT_RESPONSE_FORMAT,
        )
        parsed = content if isinstance(content, NoResultReason) else parse_intent(content)
        if isinstance(parsed, NoResultReason):
            return UnderstandReply(**answer.reply_fields(self._gateway.clock, no_result=parsed))
        intent, dropped = parsed
        return UnderstandReply(**answer.reply_fields(self._gateway.clock), intent=intent, dropped=dropped)


def parse_intent(content: str) -> tuple[Intent, dict[str, str]] | NoResultReason:
    """The valid part of a model's answer, and each field left out with why."""
    try:
        data = json.loads(content)
    except ValueError:
        return NoResultReason.INVALID_JSON
    if not isinstance(data, dict):
        return NoResultReason.INVALID_JSON
    dropped = {str(key): "not_in_schema" for key in data if key not in Intent.model_fields}
    confidence = data.get("confidence")
    if not _valid_field("confidence", confidence):
        return NoResultReason.SCHEMA_VIOLATION
    kept: dict[str, Any] = {"confidence": confidence}
    for name in Intent.model_fields:
        if name == "confidence" or data.get(name) is None:
            continue
        value = data[name]
        if name in _FREE_TEXT_FIELDS and isinstance(value, str):
            value = value.strip()
            if not value:
                continue
            if len(value) > MAX_FIELD_CHARS:
                dropped[name] = "too_long"
                continue
        if _valid_field(name, value):
            kept[name] = value
        else:
            dropped[name] = "outside_allowlist" if name not in _FREE_TEXT_FIELDS else "not_a_string"
    return Intent.model_validate(kept), dropped


def _valid_field(name: str, value: Any) -> bool:
    if name == "confidence" and isinstance(value, bool):  # JSON true is not a confidence
        return False
    try:
        Intent.model_validate({name: value})
    except ValidationError:
        return False
    return True
