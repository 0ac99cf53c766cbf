"""What the app's own OpenAPI document says about a request path: its methods and its query parameters.

Used to answer like the document: a 405 lists every method of the path (Starlette would name only those of
the first route it tried), and a query parameter no operation declares is refused (a mistyped filter such as
``?stauts=rated`` would otherwise be ignored silently and return every lead).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import FastAPI


@dataclass(frozen=True)
class _Path:
    pattern: re.Pattern[str]
    #: method (upper case) -> the query parameters it declares
    queries: dict[str, frozenset[str]]


class Document:
    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._paths: list[_Path] | None = None

    def _load(self) -> list[_Path]:
        if self._paths is None:
            paths = []
            for template, operations in self._app.openapi()["paths"].items():
                pattern = re.compile(re.sub(r"\{[^/]+\}", "[^/]+", template))
                queries = {
                    method.upper(): frozenset(p["name"] for p in op.get("parameters", []) if p["in"] == "query")
                    for method, op in operations.items()
                }
                paths.append(_Path(pattern, queries))
            self._paths = paths
        return self._paths

    def _find(self, path: str) -> _Path | None:
        return next((p for p in self._load() if p.pattern.fullmatch(path)), None)

    def methods(self, path: str) -> list[str]:
        found = self._find(path)
        return sorted(found.queries) if found is not None else []

    def query_parameters(self, method: str, path: str) -> frozenset[str] | None:
        """The declared query parameters; None when the document does not know the operation."""
        found = self._find(path)
        return found.queries.get(method.upper()) if found is not None else None
