"""The one path every task takes to the model: cost limits, the budgeted call, tokens and metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from contracts.llm import LlmRequest, LlmUsage, NoResultReason
from llm_adapter import metrics
from llm_adapter.cost_control import CostControl
from llm_adapter.llm_client import CallFailure, Completion, LlmClient
from llm_adapter.prompt_templates import PromptTemplate

_COST_REASONS = (NoResultReason.DAILY_TOKEN_BUDGET, NoResultReason.CUSTOMER_HOURLY_CAP)


@dataclass(frozen=True)
class Answer:
    """A completion, or why there is none, with what it cost and how long it took."""

    task: str
    prompt_version: str
    model: str
    completion: Completion | None = None
    no_result: NoResultReason | None = None
    detail: str | None = None
    started: float = 0.0
    usage: LlmUsage = field(default_factory=LlmUsage)

    def reply_fields(self, clock: Callable[[], float], **overrides: Any) -> dict[str, Any]:
        """The common fields of a reply; ``overrides`` (e.g. a no-result found in the content) win."""
        fields: dict[str, Any] = {
            "no_result": self.no_result,
            "raw_output": _raw(self.completion),
            "model": self.completion.model if self.completion else self.model,
            "prompt_version": self.prompt_version,
            "latency_ms": round((clock() - self.started) * 1000, 3),
            "usage": self.usage,
            "detail": self.detail,
        }
        fields.update(overrides)
        outcome = fields["no_result"].value if fields["no_result"] else "ok"
        metrics.ANSWERS.labels(self.task, outcome).inc()
        metrics.LATENCY.labels(self.task).observe(fields["latency_ms"] / 1000)
        return fields


def _raw(completion: Completion | None) -> str | None:
    if completion is None:
        return None
    return completion.content if completion.content is not None else completion.refusal


class Gateway:
    def __init__(self, client: LlmClient, cost: CostControl, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.cost = cost
        self.clock = clock

    async def ask(
        self,
        task: str,
        prompt_version: str,
        request: LlmRequest,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        response_format: dict[str, Any] | None = None,
    ) -> Answer:
        started = self.clock()
        base = Answer(task=task, prompt_version=prompt_version, model=self.client.model, started=started)
        refusal = await self.cost.refusal(request.customer_ref)
        if refusal is not None:
            metrics.RULES_ONLY.labels(refusal.value).inc()
            return replace(base, no_result=refusal, detail=refusal.value)
        budget = request.budget_ms / 1000 - (self.clock() - started)
        result = await self.client.complete(
            messages, budget_seconds=budget, max_tokens=max_tokens, response_format=response_format
        )
        if isinstance(result, CallFailure):
            return replace(base, no_result=result.reason, detail=result.detail, usage=LlmUsage(calls=result.calls))
        await self.cost.spend(result.usage.total_tokens)
        metrics.TOKENS.labels("prompt").inc(result.usage.prompt_tokens)
        metrics.TOKENS.labels("completion").inc(result.usage.completion_tokens)
        return replace(base, completion=result, usage=result.usage)

    async def ask_json(
        self,
        task: str,
        template: PromptTemplate,
        request: LlmRequest,
        text: str,
        context: str,
        *,
        max_tokens: int,
        response_format: dict[str, Any],
    ) -> tuple[Answer, str | NoResultReason]:
        """A structured answer: its JSON text, or why there is none."""
        messages = template.messages(text, context)
        answer = await self.ask(
            task, template.version, request, messages, max_tokens=max_tokens, response_format=response_format
        )
        return answer, structured_content(answer)


def structured_content(answer: Answer) -> str | NoResultReason:
    """The JSON text of a structured answer, or why there is none (refusal, cut, filtered, empty)."""
    if answer.no_result is not None or answer.completion is None:
        return answer.no_result or NoResultReason.INTERNAL_ERROR
    completion = answer.completion
    if completion.refusal:
        return NoResultReason.REFUSED
    if completion.finish_reason == "length":
        return NoResultReason.LENGTH
    if completion.finish_reason == "content_filter":
        return NoResultReason.CONTENT_FILTER
    if not completion.content:
        return NoResultReason.INVALID_JSON
    return completion.content
