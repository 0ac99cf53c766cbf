"""Classify a detour ("me salí del flujo") into the closed set of topics; the backend holds the answers.

The model only names a topic from ``OffFlowTopic`` with a confidence, through its own strict schema: it
never writes what the customer is told.
"""

from __future__ import annotations

from pydantic import ValidationError

from contracts.llm import ClassifyTopicReply, ClassifyTopicRequest, NoResultReason, TopicClassification
from llm_adapter.gateway import Gateway
from llm_adapter.prompt_templates import CLASSIFY_TOPIC
from llm_adapter.strict_schema import response_format

TOPIC_RESPONSE_FORMAT = response_format("topic", TopicClassification)
MAX_COMPLETION_TOKENS = 60


class TopicClassifier:
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def classify(self, request: ClassifyTopicRequest) -> ClassifyTopicReply:
        answer, content = await self._gateway.ask_json(
            "classify_topic",
            CLASSIFY_TOPIC,
            request,
            request.text,
            "",
            max_tokens=MAX_COMPLETION_TOKENS,
            response_format=TOPIC_RESPONSE_FORMAT,
        )
        parsed = content if isinstance(content, NoResultReason) else parse_topic(content)
        if isinstance(parsed, NoResultReason):
            return ClassifyTopicReply(**answer.reply_fields(self._gateway.clock, no_result=parsed))
        return ClassifyTopicReply(**answer.reply_fields(self._gateway.clock), classification=parsed)


def parse_topic(content: str) -> TopicClassification | NoResultReason:
    try:
        return TopicClassification.model_validate_json(content)
    except ValidationError as error:
        invalid_json = any(e["type"] == "json_invalid" for e in error.errors())
        return NoResultReason.INVALID_JSON if invalid_json else NoResultReason.SCHEMA_VIOLATION
