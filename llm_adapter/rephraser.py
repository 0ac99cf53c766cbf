"""Reword a reply's body text in a warmer tone; the rewording comes back only if every fact survived.

Phones, e-mails and RUTs in the text go to the model as numbered placeholders and are put back in its
answer; the answer is then checked against the original (``contracts.rewording``).
"""

from __future__ import annotations

from contracts.llm import NoResultReason, RephraseReply, RephraseRequest
from contracts.rewording import rewording_problems
from llm_adapter.gateway import Gateway
from llm_adapter.masking import mask_reversibly
from llm_adapter.prompt_templates import REPHRASE

#: Room for a WhatsApp body of 1,024 characters in Spanish (about 4 characters a token), not much more.
MAX_COMPLETION_TOKENS = 400


class Rephraser:
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def rephrase(self, request: RephraseRequest) -> RephraseReply:
        masked = mask_reversibly(request.text)
        answer = await self._gateway.ask(
            "rephrase", REPHRASE.version, request, REPHRASE.messages(masked.text), max_tokens=MAX_COMPLETION_TOKENS
        )
        clock = self._gateway.clock
        completion = answer.completion
        if answer.no_result is not None or completion is None:
            return RephraseReply(**answer.reply_fields(clock))
        if completion.refusal:
            return RephraseReply(**answer.reply_fields(clock, no_result=NoResultReason.REFUSED))
        if completion.finish_reason in ("length", "content_filter"):
            return RephraseReply(**answer.reply_fields(clock, no_result=NoResultReason(completion.finish_reason)))
        reworded = masked.restore((completion.content or "").strip())
        problems = rewording_problems(request.text, reworded, max_chars=request.max_chars, keep=request.keep)
        if problems:
            detail = ",".join(problems)[:200]
            return RephraseReply(**answer.reply_fields(clock, no_result=NoResultReason.FACTS_CHANGED, detail=detail))
        return RephraseReply(**answer.reply_fields(clock), text=reworded)
