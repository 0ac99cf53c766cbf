"""The one door to the optional LLM, and the understanding step that uses it only when rules fall short.

Interactive replies map exactly; free text goes through the rules first, always. The model is asked only
when the conversation expects free text and the rules left a needed field empty or were unsure (see
``understanding.llm_merge.needs_llm``); its topic classifier only when the rules found neither a field nor
a detour. Whatever it answers is checked field by field before anything counts, and the whole exchange is
recorded with the understanding. Off, failing, slow or unsure: the rules' result stands.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from contracts.commands import Understanding
from contracts.inbound import InboundMessage
from contracts.intent import IntentName, UnderstandingSource
from contracts.llm import (
    MAX_LLM_TEXT_CHARS,
    ClassifyTopicReply,
    ClassifyTopicRequest,
    NoResultReason,
    UnderstandReply,
    UnderstandRequest,
)
from orchestrator.understanding import understand_interactive, understand_text
from orchestrator.understanding.detours import find_detour
from orchestrator.understanding.erasure import asks_for_erasure
from orchestrator.understanding.llm_merge import combined, needs_llm


class LanguageModel(Protocol):
    """The LLM adapter as the orchestrator sees it (``orchestrator.llm_requester.LlmRequester``)."""

    @property
    def enabled(self) -> bool: ...

    def budget_ms(self) -> int: ...

    async def understand(self, request: UnderstandRequest) -> UnderstandReply: ...

    async def classify_topic(self, request: ClassifyTopicRequest) -> ClassifyTopicReply: ...


class LanguageModelOff:
    """No model (LLM_ENABLED=false): every message is understood by the rules, nothing is asked."""

    enabled = False

    def budget_ms(self) -> int:
        return 0

    async def understand(self, request: UnderstandRequest) -> UnderstandReply:
        return UnderstandReply(no_result=NoResultReason.OFF, detail="LLM_ENABLED is false")

    async def classify_topic(self, request: ClassifyTopicRequest) -> ClassifyTopicReply:
        return ClassifyTopicReply(no_result=NoResultReason.OFF, detail="LLM_ENABLED is false")


async def understand_message(
    message: InboundMessage,
    expecting: str | None,
    language_model: LanguageModel | None = None,
    customer_ref: str = "unknown",
) -> Understanding:
    if message.reply_id is not None:
        return Understanding(
            intent=understand_interactive(message.reply_id),
            source=UnderstandingSource.INTERACTIVE,
            reply_id=message.reply_id,
            text=message.reply_title,
        )
    text = message.text or ""
    rules = understand_text(text, expecting)
    aside = rules.intent in (IntentName.UNKNOWN, IntentName.SMALLTALK) or not rules.is_confident
    erasure = asks_for_erasure(text)
    by_rules = Understanding(
        intent=rules, source=UnderstandingSource.RULES, text=message.text,
        detour=find_detour(text) if aside and not erasure else None, asks_for_erasure=erasure,
    )  # fmt: skip
    # A request to erase their data is answered by the rules alone: nothing of it goes to the model.
    if language_model is None or not language_model.enabled or erasure or not needs_llm(rules, expecting, text):
        return by_rules
    budget_ms = language_model.budget_ms()
    sent = text[:MAX_LLM_TEXT_CHARS]
    understanding = language_model.understand(
        UnderstandRequest(customer_ref=customer_ref, text=sent, expecting=expecting, budget_ms=budget_ms)
    )
    if by_rules.detour is not None or rules.intent not in (IntentName.UNKNOWN, IntentName.SMALLTALK):
        return combined(by_rules, await understanding, None, expecting)
    topic = language_model.classify_topic(
        ClassifyTopicRequest(customer_ref=customer_ref, text=sent, budget_ms=budget_ms)
    )
    reply, classified = await asyncio.gather(understanding, topic)
    return combined(by_rules, reply, classified, expecting)
