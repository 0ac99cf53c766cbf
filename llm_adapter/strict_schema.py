"""A structured-outputs schema generated from a contracts model: strict, so the provider enforces it.

OpenAI's strict mode wants every property required (optional ones as ``anyOf [..., null]``), no
additional properties, and refuses keywords such as ``default``; titles and descriptions only cost tokens.
The schema is derived from the pydantic model, never written by hand, so it cannot drift from the contract.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

_DROPPED_KEYWORDS = frozenset({"default", "title", "description"})


def strict_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema: dict[str, Any] = _strict(model.model_json_schema())
    return schema


def response_format(name: str, model: type[BaseModel]) -> dict[str, Any]:
    """The ``response_format`` argument of a chat completion answering with ``model``."""
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": strict_json_schema(model)}}


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items() if key not in _DROPPED_KEYWORDS}
    if "$defs" in node:  # names of definitions, not keywords: keep every one, made strict
        out["$defs"] = {name: _strict(value) for name, value in node["$defs"].items()}
    if "properties" in node:
        out["properties"] = {name: _strict(value) for name, value in node["properties"].items()}
        out["required"] = list(node["properties"])
        out["additionalProperties"] = False
    return out
