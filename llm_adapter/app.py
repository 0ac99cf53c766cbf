"""The adapter as a FastStream NATS service: one small typed handler per subject, in a queue group.

Core NATS request/reply (no JetStream: an answer nobody waits for any more is worth nothing, and a caller
that gets "no responders" falls back at once). Replicas share the load through the queue group; each
handles several requests at once, since every request mostly waits on the provider. A request that does
not validate, or a bug, still gets a reply (``no_result``), never silence until the caller's timeout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from faststream.middlewares import ExceptionMiddleware
from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI
from pydantic import ValidationError

from contracts.llm import (
    ClassifyTopicReply,
    ClassifyTopicRequest,
    LlmReply,
    NoResultReason,
    RephraseReply,
    RephraseRequest,
    UnderstandReply,
    UnderstandRequest,
)
from contracts.subjects import LLM_CLASSIFY_TOPIC_SUBJECT, LLM_QUEUE_GROUP, LLM_REPHRASE_SUBJECT, LLM_UNDERSTAND_SUBJECT
from llm_adapter.gateway import Gateway
from llm_adapter.intent_parser import IntentParser
from llm_adapter.rephraser import Rephraser
from llm_adapter.topic_classifier import TopicClassifier

log = structlog.get_logger("llm_adapter")

#: Requests one replica works on at once (each mostly waits on the provider).
DEFAULT_CONCURRENCY = 256
ASYNCAPI_TITLE = "ConectaPro LLM adapter"
ASYNCAPI_VERSION = "1.0.0"


def _bad_request(error: ValidationError) -> dict[str, Any]:
    return LlmReply(no_result=NoResultReason.BAD_REQUEST, detail=f"{error.error_count()} invalid field(s)").model_dump(
        mode="json"
    )


def _internal_error(error: Exception) -> dict[str, Any]:
    log.exception("llm_adapter_handler_failed", error_type=type(error).__name__)
    return LlmReply(no_result=NoResultReason.INTERNAL_ERROR, detail=type(error).__name__).model_dump(mode="json")


def build_broker(
    gateway: Gateway,
    servers: str | list[str] = "nats://localhost:4222",
    concurrency: int = DEFAULT_CONCURRENCY,
    middlewares: Sequence[Any] = (),
) -> NatsBroker:
    """The broker with every handler registered; tests wrap it in ``TestNatsBroker``, ``serve`` runs it.
    ``middlewares`` go outermost (the composition root's telemetry: a request's span holds its handling)."""
    errors = ExceptionMiddleware(publish_handlers={ValidationError: _bad_request, Exception: _internal_error})
    broker = NatsBroker(servers, middlewares=[*middlewares, errors], logger=None)
    parser, classifier, rephraser = IntentParser(gateway), TopicClassifier(gateway), Rephraser(gateway)

    @broker.subscriber(
        LLM_UNDERSTAND_SUBJECT,
        queue=LLM_QUEUE_GROUP,
        max_workers=concurrency,
        title="understand",
        description="Extract the Intent of a customer's free text (structured outputs, validated field by field).",
    )
    async def understand(request: UnderstandRequest) -> UnderstandReply:
        return await parser.understand(request)

    @broker.subscriber(
        LLM_CLASSIFY_TOPIC_SUBJECT,
        queue=LLM_QUEUE_GROUP,
        max_workers=concurrency,
        title="classify_topic",
        description="Classify an off-flow message into the closed set of topics, with a confidence.",
    )
    async def classify_topic(request: ClassifyTopicRequest) -> ClassifyTopicReply:
        return await classifier.classify(request)

    @broker.subscriber(
        LLM_REPHRASE_SUBJECT,
        queue=LLM_QUEUE_GROUP,
        max_workers=concurrency,
        title="rephrase",
        description="Reword a reply's body text; returned only if every fact survived.",
    )
    async def rephrase(request: RephraseRequest) -> RephraseReply:
        return await rephraser.rephrase(request)

    return broker


async def start_serving(broker: NatsBroker) -> None:
    """Start the handlers and return once the server knows them: until then a request gets "no responders"."""
    await broker.start()
    await broker.connection.flush()  # the server has processed our subscriptions when the PONG comes back


#: What each operation answers (FastStream documents what a handler receives, not its reply).
REPLIES: dict[str, type[LlmReply]] = {
    "understand": UnderstandReply,
    "classify_topic": ClassifyTopicReply,
    "rephrase": RephraseReply,
}


def asyncapi_document(broker: NatsBroker) -> dict[str, Any]:
    """The AsyncAPI document, generated from the handlers and the reply models (kept in docs/asyncapi/)."""
    spec = AsyncAPI(broker, title=ASYNCAPI_TITLE, version=ASYNCAPI_VERSION, schema_version="3.0.0")
    document: dict[str, Any] = spec.to_specification().to_jsonable()
    components = document["components"]
    for operation, reply_model in REPLIES.items():
        schema = reply_model.model_json_schema(ref_template="#/components/schemas/{model}")
        components["schemas"].update(schema.pop("$defs", {}))
        components["schemas"][reply_model.__name__] = schema
        message = f"{operation}:Reply"
        components["messages"][message] = {
            "title": message,
            "correlationId": {"location": "$message.header#/correlation_id"},
            "payload": {"$ref": f"#/components/schemas/{reply_model.__name__}"},
        }
        document["operations"][operation]["reply"] = {
            "address": {"location": "$message.header#/reply_to"},
            "messages": [{"$ref": f"#/components/messages/{message}"}],
        }
    return document
