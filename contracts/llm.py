"""Request/reply contracts of the optional LLM adapter (core NATS request/reply, see ``contracts.subjects``).

Every reply says what happened: a result, or ``no_result`` with the reason. The adapter never answers with
an exception, so a caller treats "no reply in time" and "no responders" as the only other outcomes, both
meaning "rules alone" (DESIGN.md, the LLM layer).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from contracts.intent import Intent

#: Longest customer text sent to the model; WhatsApp caps a text message at 4,096 characters.
MAX_LLM_TEXT_CHARS = 4096
#: WhatsApp's limit on an interactive message's body; a plain text body may be 4,096.
MAX_INTERACTIVE_BODY_CHARS = 1024


class NoResultReason(StrEnum):
    """Why there is no usable answer; the conversation then goes on with the rules' result."""

    OFF = "off"  # LLM disabled, or the adapter not running (NATS "no responders")
    TIMEOUT = "timeout"  # the whole budget, retries included, ran out
    BREAKER_OPEN = "breaker_open"  # the provider failed repeatedly: not called for a while
    PROVIDER_ERROR = "provider_error"  # a non-transient HTTP error, or transient ones past the budget
    REFUSED = "refused"  # the model refused (structured outputs' ``refusal``)
    LENGTH = "length"  # finish_reason "length": the answer was cut
    CONTENT_FILTER = "content_filter"  # finish_reason "content_filter"
    INVALID_JSON = "invalid_json"  # the content is not a JSON object
    SCHEMA_VIOLATION = "schema_violation"  # a JSON object, but not the schema (e.g. no confidence)
    DAILY_TOKEN_BUDGET = "daily_token_budget"  # the day's token budget is spent
    CUSTOMER_HOURLY_CAP = "customer_hourly_cap"  # this customer used their calls for the hour
    FACTS_CHANGED = "facts_changed"  # a rewording lost or added a fact
    BAD_REQUEST = "bad_request"  # the request itself did not validate
    INTERNAL_ERROR = "internal_error"  # a bug in the adapter; logged there


class OffFlowTopic(StrEnum):
    """The closed set of detours ("me salí del flujo"); each has a backend-held answer."""

    PRICE = "price"  # ¿cuánto cobran?
    HOW_IT_WORKS = "how_it_works"  # ¿cómo funciona? ¿eres un bot?
    ASKS_FOR_PERSON = "asks_for_person"  # quiero hablar con una persona
    TECHNICIAN_TIMING = "technician_timing"  # ¿cuándo llega el técnico?
    COMPLAINT = "complaint"  # reclamos
    THANKS_GOODBYE = "thanks_goodbye"  # gracias, chao
    OTHER = "other"


class TopicClassification(BaseModel):
    """The only thing the model may answer when classifying a detour (its strict schema)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: OffFlowTopic
    confidence: float = Field(ge=0.0, le=1.0)


class LlmUsage(BaseModel):
    """What one answer cost, as the provider reported it (zero when nothing was called)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    prompt_chars: int = Field(default=0, ge=0)
    completion_chars: int = Field(default=0, ge=0)
    calls: int = Field(default=0, ge=0)  # HTTP attempts, retries included

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class LlmRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: An opaque, non-personal key of the customer (the per-customer hourly cap counts by it).
    customer_ref: str = Field(min_length=1, max_length=128)
    #: The caller's whole budget for this answer; the adapter answers within it.
    budget_ms: int = Field(default=3000, ge=50, le=60_000)


class UnderstandRequest(LlmRequest):
    text: str = Field(min_length=1, max_length=MAX_LLM_TEXT_CHARS)
    #: The field the conversation is asking for (service, comuna, urgency, address, ...), if any.
    expecting: str | None = Field(default=None, max_length=40)


class ClassifyTopicRequest(LlmRequest):
    text: str = Field(min_length=1, max_length=MAX_LLM_TEXT_CHARS)


class RephraseRequest(LlmRequest):
    #: A reply's body text only: buttons and list titles are never sent.
    text: str = Field(min_length=1, max_length=MAX_LLM_TEXT_CHARS)
    #: Facts that must survive verbatim (names, comunas, addresses, services, dates).
    keep: tuple[str, ...] = ()
    max_chars: int = Field(default=MAX_INTERACTIVE_BODY_CHARS, ge=1, le=MAX_LLM_TEXT_CHARS)


class LlmReply(BaseModel):
    """What every answer carries: what happened, with which model and prompt, at what cost."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    no_result: NoResultReason | None = None
    #: The model's answer as it came (absent when nothing came back); recorded, never acted upon.
    raw_output: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    latency_ms: float = Field(default=0.0, ge=0)
    usage: LlmUsage = Field(default_factory=LlmUsage)
    #: A short, non-personal detail of a failure (an HTTP status, an exception type).
    detail: str | None = Field(default=None, max_length=200)


class UnderstandReply(LlmReply):
    #: Valid against the Intent schema, field by field; comunas not yet canonicalised (the backend does).
    intent: Intent | None = None
    #: Fields the adapter dropped from the model's answer, with why (e.g. "service": "outside_allowlist").
    dropped: dict[str, str] = Field(default_factory=dict)


class ClassifyTopicReply(LlmReply):
    classification: TopicClassification | None = None


class RephraseReply(LlmReply):
    text: str | None = None


class LlmTrace(BaseModel):
    """What the LLM was asked about one message and what came of it: recorded with the understanding.

    Replay and audit read this; they never call the model again.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: "ok", or why there was no usable answer (off, timeout, breaker_open, refused, ...).
    outcome: str
    raw_output: str | None = None
    #: The model's intent after the adapter's schema check (before the backend's field checks).
    proposed: Intent | None = None
    #: What the rules alone understood; the merged result is the understanding's intent.
    rules: Intent | None = None
    #: Fields of the model's answer that count (the rest were dropped or the rules' values stood).
    accepted: tuple[str, ...] = ()
    dropped: dict[str, str] = Field(default_factory=dict)
    disagreements: dict[str, str] = Field(default_factory=dict)
    topic: TopicClassification | None = None
    topic_outcome: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    latency_ms: float = Field(default=0.0, ge=0)
    usage: LlmUsage = Field(default_factory=LlmUsage)
