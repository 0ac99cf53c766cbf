"""Print the adapter's AsyncAPI document: ``python -m llm_adapter.asyncapi > docs/asyncapi/llm_adapter.json``.

Generated from the handlers and the contracts; a test fails when the committed document is stale.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from llm_adapter.app import asyncapi_document, build_broker
from llm_adapter.cost_control import CostControl, ProcessLedger
from llm_adapter.gateway import Gateway
from llm_adapter.llm_client import LlmClient


def document() -> dict[str, Any]:
    # The handlers are only described, never called: the client points nowhere and sends nothing.
    client = LlmClient.connect("http://127.0.0.1:9/v1", None, "documentation-only", timeout_seconds=1)
    cost = CostControl(0, 0, ProcessLedger(), wall_clock=lambda: datetime.now(UTC))
    return asyncapi_document(build_broker(Gateway(client, cost)))


def document_text() -> str:
    # Sorted: FastStream lists the channels in no stable order.
    return json.dumps(document(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(document_text(), end="")
