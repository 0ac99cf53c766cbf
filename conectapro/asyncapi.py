"""Every NATS subject of the project in one AsyncAPI 3 document, generated from the code:
``python -m conectapro.asyncapi > docs/asyncapi/conectapro.json``.

The LLM adapter's request/reply subjects come from FastStream, which documents what the adapter serves
(``llm_adapter.asyncapi``); the JetStream subjects (inbound updates, timer commands, dead letters) are added
here from ``contracts.subjects`` and the pydantic models of their payloads. A test fails when the committed
document is stale, or when a subject of ``contracts.subjects`` is missing from it.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from contracts import subjects, wakeup_topics
from contracts.commands import TIMER_COMMANDS
from contracts.inbound import InboundEnvelope
from contracts.whatsapp import WebhookPayload
from llm_adapter.asyncapi import document

TITLE = "ConectaPro messaging"
REF = "#/components/schemas/{model}"

_TRACEPARENT = {"type": "string", "description": "W3C trace context of the message's trace (when tracing is on)"}


def _headers(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _add_schema(components: dict[str, Any], name: str, schema: dict[str, Any]) -> dict[str, str]:
    components["schemas"].update(schema.pop("$defs", {}))
    components["schemas"][name] = schema
    return {"$ref": f"#/components/schemas/{name}"}


def _timer_command_schema(components: dict[str, Any]) -> dict[str, Any]:
    """A command's body is its record: the command's fields plus ``type``, its class name."""
    variants = []
    for name, command in sorted(TIMER_COMMANDS.items()):
        schema = command.model_json_schema(ref_template=REF)
        schema["properties"] = {"type": {"const": name}, **schema["properties"]}
        schema["required"] = ["type", *schema.get("required", [])]
        variants.append(_add_schema(components, name, schema))
    return {"oneOf": variants}


def _channels(components: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each JetStream channel: its address, description, payload schema, headers, and who sends and receives."""
    envelope = _add_schema(
        components, "InboundEnvelope", TypeAdapter(InboundEnvelope).json_schema(ref_template=REF)
    )
    webhook = _add_schema(components, "WebhookPayload", WebhookPayload.model_json_schema(ref_template=REF))
    command = _timer_command_schema(components)
    reason = _string("Why the message was parked")
    original_subject = _string("The subject the message was first published on")
    return {
        "inbound": {
            "address": f"{subjects.INBOUND_SUBJECT_PREFIX}.p{{partition}}.{{person}}.{{token}}",
            "stream": subjects.INBOUND_STREAM,
            "description": "One normalized WhatsApp update (message, delivery status or account error), "
            "partitioned by customer; person is a keyed hash of the sender's WhatsApp id (erasure finds a "
            "person's updates by it), token a hash of its dedupe key (the wamid).",
            "parameters": {
                "partition": {"description": "partition_of(sender, INBOUND_PARTITIONS)"},
                "person": {"description": "privacy.person_tokens.PersonTokens(sender): HMAC-SHA256, 128 bits"},
                "token": {"description": "dedupe_token(dedupe key)"},
            },
            "payload": envelope,
            "headers": _headers(
                **{
                    "Nats-Msg-Id": _string("The update's dedupe key (JetStream's duplicate window)"),
                    subjects.KIND_HEADER: _string("message, status or error"),
                    "traceparent": _TRACEPARENT,
                }
            ),
            "send": "ingress",
            "receive": "orchestrator",
        },
        "commands": {
            "address": f"{subjects.COMMANDS_SUBJECT_PREFIX}.p{{partition}}",
            "stream": subjects.COMMANDS_STREAM,
            "description": "A timer command of the closer, decided by the orchestrator in the customer's order.",
            "parameters": {"partition": {"description": "partition_of(customer key, INBOUND_PARTITIONS)"}},
            "payload": command,
            "headers": _headers(
                **{
                    "Nats-Msg-Id": _string("The command's id"),
                    subjects.COMMAND_TYPE_HEADER: _string("The command's type"),
                }
            ),
            "send": "closer",
            "receive": "orchestrator",
        },
        "deadletter_ingress": {
            "address": subjects.DEADLETTER_INGRESS,
            "stream": subjects.DEADLETTER_STREAM,
            "description": "An authentic (signed) webhook body the ingress could not parse, as received.",
            "payload": webhook,
            "headers": _headers(**{subjects.REASON_HEADER: reason, "Nats-Msg-Id": _string("ingress:<sha256>")}),
            "send": "ingress",
        },
        "deadletter_ingress_part": {
            "address": f"{subjects.DEADLETTER_INGRESS}.{{person}}.{{letter}}",
            "stream": subjects.DEADLETTER_STREAM,
            "description": "One part of an authentic webhook the ingress could not parse (an update without its "
            "id, a change without its value), as a webhook of its own; the readable rest was published.",
            "parameters": {
                "person": {"description": f"the person token of the part's sender, or {subjects.NO_PERSON}"},
                "letter": {"description": "a token of the letter's sha256: the durable record of its parking"},
            },
            "payload": webhook,
            "headers": _headers(**{subjects.REASON_HEADER: reason, "Nats-Msg-Id": _string("ingress:<sha256>")}),
            "send": "ingress",
        },
        "deadletter_orchestrator": {
            "address": f"{subjects.DEADLETTER_ORCHESTRATOR}.{{person}}",
            "stream": subjects.DEADLETTER_STREAM,
            "description": "An inbound update the orchestrator could not parse or kept failing on, as stored; "
            "person is the one of the update's subject.",
            "parameters": {"person": {"description": "the person token of the original subject"}},
            "payload": envelope,
            "headers": _headers(
                **{subjects.REASON_HEADER: reason, "Conectapro-Original-Subject": original_subject}
            ),
            "send": "orchestrator",
        },
        "deadletter_commands": {
            "address": subjects.DEADLETTER_COMMANDS,
            "stream": subjects.DEADLETTER_STREAM,
            "description": "A timer command the orchestrator could not parse or kept failing on, as stored.",
            "payload": command,
            "headers": _headers(
                **{subjects.REASON_HEADER: reason, "Conectapro-Original-Subject": original_subject}
            ),
            "send": "orchestrator",
        },
        "eventstore_appended": {
            "address": subjects.EVENTS_APPENDED_SUBJECT + "".join(f".{{{name}}}" for name in wakeup_topics.TOPIC_NAMES),
            "description": "Core NATS, nothing stored: events committed to the event store, a wake-up for its "
            "followers in every process (a hint: they still poll). Published once by every service's store "
            "after commit, coalesced; each token says whether the events touch one wake-up topic, so a process "
            "subscribes only to the topics its followers wake on.",
            "parameters": {
                name: {
                    "description": f"'{name}' when the events include "
                    + (", ".join(sorted(types)) if types else "a type of no other topic")
                    + f", else '{wakeup_topics.UNTOUCHED}'",
                    "enum": [name, wakeup_topics.UNTOUCHED],
                }
                for name, types in (*wakeup_topics.WAKEUP_TOPICS, (wakeup_topics.OTHER_TOPIC, frozenset[str]()))
            },
            "payload": {
                "type": "string",
                "description": "The event types appended, comma-separated (UTF-8); empty: any type.",
            },
            "headers": _headers(),
            "send": "every service's event store",
            "receive": "followers of the event store",
        },
    }


def pipeline_document() -> dict[str, Any]:
    result: dict[str, Any] = document()
    result["info"]["title"] = TITLE
    result["info"]["description"] = (
        "Every NATS subject of ConectaPro: the JetStream streams (INBOUND, COMMANDS, DEADLETTER), the "
        "LLM adapter's core NATS request/reply in the queue group llm_adapter, and the event store's core NATS "
        "wake-ups."
    )
    components = result["components"]
    for channel_id, channel in _channels(components).items():
        message = f"{channel_id}:Message"
        components["messages"][message] = {
            "title": message,
            "headers": channel["headers"],
            "payload": channel["payload"],
        }
        result["channels"][channel_id] = {
            "address": channel["address"],
            "description": channel["description"],
            "bindings": {"nats": {"bindingVersion": "custom", **{k: v for k, v in channel.items() if k == "stream"}}},
            "messages": {"Message": {"$ref": f"#/components/messages/{message}"}},
            **({"parameters": channel["parameters"]} if "parameters" in channel else {}),
        }
        for action in ("send", "receive"):
            if action in channel:
                result["operations"][f"{channel_id}:{action}"] = {
                    "action": action,
                    "title": f"{channel['send' if action == 'send' else 'receive']} {action}s",
                    "channel": {"$ref": f"#/channels/{channel_id}"},
                    "messages": [{"$ref": f"#/channels/{channel_id}/messages/Message"}],
                }
    return result


def document_text() -> str:
    return json.dumps(pipeline_document(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(document_text(), end="")
