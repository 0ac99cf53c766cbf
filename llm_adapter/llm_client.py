"""One chat completion within a time budget, through the official ``openai`` SDK (any compatible server).

The SDK's own retries are off: tenacity retries only what may pass (connection errors and timeouts, 429
honouring ``Retry-After``, 5xx), and only while the budget leaves time for another attempt. The whole call,
retries and waits included, is cut at the budget, so the caller always has an answer in time. A circuit
breaker stops calling a provider that keeps failing. Failures come back as values, never as exceptions.

The request goes through the SDK's generic ``post`` (its auth, errors and timeouts) rather than the typed
``chat.completions.create``: that one walks every argument, the strict schema included, through its
TypedDict transform and builds a typed response on every call, the larger part of the adapter's CPU per
answer. Our messages and schema are plain JSON already, and the answer is read here from its JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import openai
import orjson
import structlog
from openai import AsyncOpenAI
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_before_delay, wait_exponential_jitter

from contracts.llm import LlmUsage, NoResultReason
from llm_adapter.breaker import CircuitBreaker

log = structlog.get_logger("llm_adapter.client")

#: Another attempt is worth starting only if at least this much of the budget is left for it.
MIN_ATTEMPT_SECONDS = 0.25
#: A Retry-After longer than this is not waited for (the budget is a few seconds anyway).
MAX_RETRY_AFTER_SECONDS = 10.0
_CHAT_COMPLETIONS = "/chat/completions"
_AUTHENTICATED: Any = {"bearer_auth": True}  # as the SDK's own chat.completions.create asks for its key

#: Wraps each call to the provider (the composition root's tracing span: name, then attributes).
CallSpan = Callable[..., AbstractContextManager[object]]


def no_span(_name: str, **_attributes: object) -> AbstractContextManager[object]:
    return contextlib.nullcontext()


@dataclass(frozen=True)
class Completion:
    content: str | None
    refusal: str | None
    finish_reason: str
    model: str
    usage: LlmUsage


@dataclass(frozen=True)
class CallFailure:
    reason: NoResultReason
    detail: str
    calls: int


class LlmClient:
    def __init__(
        self,
        openai_client: AsyncOpenAI,
        model: str,
        breaker: CircuitBreaker | None = None,
        clock: Callable[[], float] = time.monotonic,
        call_span: CallSpan = no_span,
    ) -> None:
        self._openai = openai_client
        self.model = model
        self.breaker = breaker or CircuitBreaker(clock=clock)
        self._clock = clock
        self._call_span = call_span

    @classmethod
    def connect(
        cls,
        base_url: str | None,
        api_key: str | None,
        model: str,
        timeout_seconds: float,
        breaker: CircuitBreaker | None = None,
        call_span: CallSpan = no_span,
    ) -> LlmClient:
        # A local OpenAI-compatible server (Ollama, vLLM, llama.cpp) needs no key, but the SDK wants one.
        client = AsyncOpenAI(api_key=api_key or "unset", base_url=base_url, max_retries=0, timeout=timeout_seconds)
        return cls(client, model, breaker, call_span=call_span)

    async def close(self) -> None:
        await self._openai.close()

    async def complete(
        self,
        messages: list[dict[str, str]],
        *,
        budget_seconds: float,
        max_tokens: int,
        response_format: dict[str, Any] | None = None,
    ) -> Completion | CallFailure:
        if not self.breaker.allow():
            return CallFailure(NoResultReason.BREAKER_OPEN, "breaker open", calls=0)
        started = self._clock()
        calls = 0
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_completion_tokens": max_tokens,
            "temperature": 0,
        }
        if response_format is not None:
            body["response_format"] = response_format
        try:
            async with asyncio.timeout(budget_seconds):
                async for attempt in AsyncRetrying(
                    retry=retry_if_exception(_is_transient),
                    wait=_wait_honouring_retry_after,
                    stop=stop_before_delay(max(budget_seconds - MIN_ATTEMPT_SECONDS, 0.0)),
                    reraise=True,
                ):
                    with attempt, self._call_span(f"chat {self.model}", **_span_attributes(self.model)):
                        calls += 1
                        remaining = budget_seconds - (self._clock() - started)
                        content = await self._openai.post(
                            _CHAT_COMPLETIONS,
                            cast_to=bytes,
                            body=body,
                            options={"timeout": max(remaining, 0.05), "security": _AUTHENTICATED},
                        )
                        answer = orjson.loads(content)
            completion = _completion(answer, calls, prompt_chars=sum(len(m["content"]) for m in messages))
        except TimeoutError:
            return self._failed(NoResultReason.TIMEOUT, "budget exhausted", calls)
        except openai.APIStatusError as error:
            return self._failed(NoResultReason.PROVIDER_ERROR, f"http {error.status_code}", calls)
        except openai.APIConnectionError as error:
            return self._failed(NoResultReason.PROVIDER_ERROR, type(error).__name__, calls)
        except openai.OpenAIError as error:
            return self._failed(NoResultReason.PROVIDER_ERROR, type(error).__name__, calls)
        except (orjson.JSONDecodeError, LookupError, TypeError, AttributeError) as error:  # not a completion
            return self._failed(NoResultReason.PROVIDER_ERROR, f"unreadable answer ({type(error).__name__})", calls)
        self.breaker.record_success()
        return completion

    def _failed(self, reason: NoResultReason, detail: str, calls: int) -> CallFailure:
        self.breaker.record_failure()
        log.warning("llm_call_failed", reason=reason.value, detail=detail, calls=calls, breaker=self.breaker.state)
        return CallFailure(reason, detail, calls)


def _completion(answer: dict[str, Any], calls: int, prompt_chars: int) -> Completion:
    choice = answer["choices"][0]
    message = choice["message"]
    content = message.get("content")
    usage = answer.get("usage") or {}
    return Completion(
        content=content,
        refusal=message.get("refusal"),
        finish_reason=choice.get("finish_reason") or "stop",
        model=answer.get("model") or "",
        usage=LlmUsage(
            prompt_tokens=usage.get("prompt_tokens") or 0,
            completion_tokens=usage.get("completion_tokens") or 0,
            prompt_chars=prompt_chars,
            completion_chars=len(content or ""),
            calls=calls,
        ),
    )


def _span_attributes(model: str) -> dict[str, str]:
    # OpenTelemetry's GenAI semantic conventions, as an instrumented SDK call would carry them.
    return {"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": model}


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, openai.APIConnectionError):  # includes the SDK's own per-request timeout
        return True
    if isinstance(error, openai.RateLimitError):
        return True
    return isinstance(error, openai.APIStatusError) and error.status_code >= 500


_backoff = wait_exponential_jitter(multiplier=0.1, max=1.0, jitter=0.1)


def _wait_honouring_retry_after(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, openai.RateLimitError):
        retry_after = retry_after_seconds(error.response.headers)
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER_SECONDS)
    return _backoff(state)


def retry_after_seconds(headers: Any) -> float | None:
    """``retry-after-ms`` (OpenAI's) or ``retry-after`` in seconds; an HTTP date is not worth parsing here."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(float(value) * scale, 0.0)
        except ValueError:
            continue
    return None
