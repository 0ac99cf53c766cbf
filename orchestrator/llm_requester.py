"""The orchestrator's side of the LLM adapter's request/reply: always an answer, within the budget.

"No responders" (the adapter is not running) is *off* and comes back at once; no reply in time is a
timeout; a reply that does not parse is an internal error. Nothing here raises: whatever happens, the
caller gets a reply saying why there is no result, and goes on with the rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import structlog
from nats.aio.client import Client as NATS
from nats.errors import ConnectionClosedError, NoRespondersError, TimeoutError
from pydantic import ValidationError

from contracts.llm import (
    ClassifyTopicReply,
    ClassifyTopicRequest,
    LlmReply,
    LlmRequest,
    NoResultReason,
    RephraseReply,
    RephraseRequest,
    UnderstandReply,
    UnderstandRequest,
)
from contracts.subjects import LLM_CLASSIFY_TOPIC_SUBJECT, LLM_REPHRASE_SUBJECT, LLM_UNDERSTAND_SUBJECT
from infra.pipeline_metrics import LLM_REQUESTS
from infra.telemetry import inject_context, publishing

log = structlog.get_logger("orchestrator.llm")

#: Of the budget, this much is kept for the trip to the adapter and back: it answers before we give up.
NETWORK_MARGIN_SECONDS = 0.1
#: After "no responders", the adapter is taken as off for this long without asking NATS again: a stopped
#: adapter then costs the conversation nothing, and one that starts is used within this delay.
OFF_RECHECK_SECONDS = 2.0

ReplyT = TypeVar("ReplyT", bound=LlmReply)


class LlmRequester:
    enabled = True

    def __init__(self, nc: NATS, budget_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._nc = nc
        self.budget_seconds = budget_seconds
        self._clock = clock
        self._off_until = float("-inf")

    def budget_ms(self) -> int:
        """What a request should carry as its budget: the adapter's share of ours (the wait is ours)."""
        return max(int((self.budget_seconds - NETWORK_MARGIN_SECONDS) * 1000), 50)

    async def understand(self, request: UnderstandRequest) -> UnderstandReply:
        return await self._ask(LLM_UNDERSTAND_SUBJECT, request, UnderstandReply)

    async def classify_topic(self, request: ClassifyTopicRequest) -> ClassifyTopicReply:
        return await self._ask(LLM_CLASSIFY_TOPIC_SUBJECT, request, ClassifyTopicReply)

    async def rephrase(self, request: RephraseRequest) -> RephraseReply:
        return await self._ask(LLM_REPHRASE_SUBJECT, request, RephraseReply)

    async def _ask(self, subject: str, request: LlmRequest, reply_type: type[ReplyT]) -> ReplyT:
        reply = await self._answer(subject, request, reply_type)
        outcome = reply.no_result.value if reply.no_result is not None else "ok"
        LLM_REQUESTS.labels(subject.rsplit(".", 1)[-1], outcome).inc()
        return reply

    async def _answer(self, subject: str, request: LlmRequest, reply_type: type[ReplyT]) -> ReplyT:
        started = self._clock()
        if started < self._off_until:
            return self._no_result(reply_type, NoResultReason.OFF, "no responders (recently)", started)
        try:
            with publishing(subject):
                message = await self._nc.request(
                    subject,
                    request.model_dump_json().encode(),
                    timeout=self.budget_seconds,
                    headers=inject_context({"content-type": "application/json"}),
                )
        except NoRespondersError:
            self._off_until = self._clock() + OFF_RECHECK_SECONDS
            return self._no_result(reply_type, NoResultReason.OFF, "no responders", started)
        except TimeoutError:
            return self._no_result(reply_type, NoResultReason.TIMEOUT, "no reply in time", started)
        except ConnectionClosedError:
            return self._no_result(reply_type, NoResultReason.OFF, "nats connection closed", started)
        try:
            return reply_type.model_validate_json(message.data)
        except ValidationError:
            log.error("llm_reply_unreadable", subject=subject)
            return self._no_result(reply_type, NoResultReason.INTERNAL_ERROR, "unreadable reply", started)

    def _no_result(self, reply_type: type[ReplyT], reason: NoResultReason, detail: str, started: float) -> ReplyT:
        latency_ms = round((self._clock() - started) * 1000, 3)
        return reply_type(no_result=reason, detail=detail, latency_ms=latency_ms)
