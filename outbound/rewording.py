"""A warmer wording of a reply's body text, asked of the LLM adapter just before it is sent.

Only with ``LLM_REPHRASE_ENABLED``, only for the bot's replies to customers, never for the wording a
customer consents to (the summary) nor for a reply an operator wrote. Only the body goes to the adapter:
buttons and list titles go out as decided. The rewording is used only if it passes the fact check
(``contracts.rewording``) here too, whatever the adapter said; otherwise the deterministic text goes. Both
texts are recorded (``ReplyReworded``) on the sender's stream: the decision is not touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import ValidationError

from contracts.events import Event
from contracts.llm import RephraseReply, RephraseRequest
from contracts.outbound import (
    MAX_INTERACTIVE_BODY,
    MAX_TEXT_BODY,
    OutboundMessage,
    RecipientRole,
    ReplyQueued,
    ReplyReworded,
    TextMessage,
)
from contracts.personal import person_of_stream
from contracts.rewording import rewording_problems

#: Replies whose words matter as they are: the summary a customer consents to.
NEVER_REWORDED = frozenset({"confirm_summary"})


class Rephrase(Protocol):
    """The adapter's rephrase request/reply (``orchestrator.llm_requester.LlmRequester``)."""

    def budget_ms(self) -> int: ...

    async def rephrase(self, request: RephraseRequest) -> RephraseReply: ...


@dataclass(frozen=True)
class Rewording:
    """What goes out (the rewording, or the deterministic message) and the record of both texts."""

    message: OutboundMessage
    record: ReplyReworded


class Reworder:
    def __init__(self, adapter: Rephrase) -> None:
        self._adapter = adapter

    @staticmethod
    def wants(reply: ReplyQueued) -> bool:
        return (
            reply.recipient is RecipientRole.CUSTOMER
            and reply.written_by is None
            and reply.purpose not in NEVER_REWORDED
        )

    async def reword(self, sender_stream: str, reply: ReplyQueued) -> Rewording:
        original = reply.message.body
        limit = MAX_TEXT_BODY if isinstance(reply.message, TextMessage) else MAX_INTERACTIVE_BODY
        request = RephraseRequest(
            customer_ref=person_of_stream(sender_stream) or sender_stream,
            budget_ms=self._adapter.budget_ms(),
            text=original,
            max_chars=limit,
        )
        answer = await self._adapter.rephrase(request)
        problems = rewording_problems(original, answer.text, max_chars=limit) if answer.text else []
        message = _with_body(reply.message, answer.text) if answer.text and not problems else None
        detail: str | None
        if problems:
            outcome, detail = "facts_changed", ",".join(problems)[:200]
        elif message is None:
            outcome = answer.no_result.value if answer.no_result is not None else "no_text"
            detail = answer.detail
        else:
            outcome, detail = "ok", None
        record = ReplyReworded(
            reply_id=reply.reply_id, original=original, used=message is not None,
            # A refused rewording is recorded as the model wrote it (personal values still masked).
            reworded=answer.text or answer.raw_output,
            outcome=outcome, detail=detail, model=answer.model, prompt_version=answer.prompt_version,
            latency_ms=answer.latency_ms, tokens=answer.usage.total_tokens,
        )  # fmt: skip
        return Rewording(message or reply.message, record)


def _with_body(message: OutboundMessage, body: str) -> OutboundMessage | None:
    # Re-validated, not copied: WhatsApp's limits are checked again on the new body.
    try:
        return type(message).model_validate({**message.model_dump(), "body": body})
    except ValidationError:
        return None


def recorded_message(events: Sequence[Event], reply: ReplyQueued) -> OutboundMessage:
    """What the first attempt of ``reply`` sent: its recorded rewording when one was used (a resend after a
    crash sends the same words), else the deterministic message."""
    for event in events:
        if isinstance(event, ReplyReworded) and event.reply_id == reply.reply_id and event.used and event.reworded:
            return _with_body(reply.message, event.reworded) or reply.message
    return reply.message
