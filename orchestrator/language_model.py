"""The one door to the optional LLM, and the understanding step that uses it only when rules fall short.

Rules and exact interactive mapping always run first. The model is consulted only for free text the rules
could not read with confidence, and whatever it returns must be a valid Intent at confidence >= 0.85 or it
is ignored: the deterministic result stands (DESIGN.md, rules 2 and 3). This issue ships the port "off";
the LLM adapter plugs in behind :class:`LanguageModel` without touching the state machine.
"""

from __future__ import annotations

from typing import Protocol

from contracts.commands import Understanding
from contracts.inbound import InboundMessage
from contracts.intent import UnderstandingSource
from orchestrator.understanding import understand_interactive, understand_text


class LanguageModel(Protocol):
    async def understand(self, text: str, expecting: str | None) -> Understanding | None:
        """A validated understanding, or None when off, failing, unsure or out of the allowlists."""
        ...


class LanguageModelOff:
    """The default: no model. Everything is understood by the deterministic rules."""

    async def understand(self, text: str, expecting: str | None) -> Understanding | None:
        return None


async def understand_message(
    message: InboundMessage, expecting: str | None, language_model: LanguageModel
) -> Understanding:
    if message.reply_id is not None:
        return Understanding(
            intent=understand_interactive(message.reply_id),
            source=UnderstandingSource.INTERACTIVE,
            reply_id=message.reply_id,
            text=message.reply_title,
        )
    text = message.text or ""
    by_rules = Understanding(
        intent=understand_text(text, expecting), source=UnderstandingSource.RULES, text=message.text
    )
    if by_rules.intent.is_confident or not text.strip():
        return by_rules
    by_model = await language_model.understand(text, expecting)
    if by_model is None or not by_model.intent.is_confident:
        return by_rules
    return by_model
