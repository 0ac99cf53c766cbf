"""Which package may import which: the seams of docs/architecture.md, checked on the source itself."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Every top-level package of ours (a folder with an ``__init__.py`` beside the README).
OURS = frozenset(p.parent.name for p in ROOT.glob("*/__init__.py"))
#: Development tools reach the running system only through the composition root (local mode).
MAY_IMPORT_DEVTOOLS = frozenset({"devtools", "conectapro", "tests", "bench"})


def _sources(package: str) -> Iterator[Path]:
    yield from sorted((ROOT / package).rglob("*.py"))


def _imported_packages(path: Path) -> set[str]:
    """Our top-level packages imported by ``path`` (anywhere in it, lazily imported ones included)."""
    package = list(path.relative_to(ROOT).parent.parts)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            # A relative import starts from this file's package, ``level - 1`` packages up.
            base = package[: len(package) - node.level + 1] if node.level else []
            found.add(base[0] if base else (node.module or "").partition(".")[0])
    return found & OURS


def _importers(target: str) -> dict[str, list[str]]:
    """Package → its files that import ``target``."""
    importers: dict[str, list[str]] = {}
    for package in sorted(OURS):
        for path in _sources(package):
            if target in _imported_packages(path):
                importers.setdefault(package, []).append(str(path.relative_to(ROOT)))
    return importers


def test_the_packages_are_found() -> None:
    assert {"contracts", "conectapro", "devtools", "outbound", "llm_adapter", "tests"} <= OURS


def test_only_the_composition_root_tests_and_benches_import_devtools() -> None:
    importers = _importers("devtools")
    offenders = {package: files for package, files in importers.items() if package not in MAY_IMPORT_DEVTOOLS}
    assert offenders == {}, "production code paths must not import development tools"


def test_the_llm_adapter_imports_only_contracts() -> None:
    outside = {
        str(path.relative_to(ROOT)): sorted(_imported_packages(path) - {"llm_adapter", "contracts"})
        for path in _sources("llm_adapter")
    }
    assert {file: packages for file, packages in outside.items() if packages} == {}


#: Dependencies point inward: the shared layers import nothing of the services above them.
INWARD = {
    "contracts": {"contracts"},
    "eventstore": {"eventstore", "contracts"},
    "infra": {"infra", "eventstore", "contracts"},
    "privacy": {"privacy", "infra", "eventstore", "contracts"},
}


def test_the_shared_layers_import_no_service() -> None:
    outside = {
        str(path.relative_to(ROOT)): sorted(_imported_packages(path) - allowed)
        for package, allowed in INWARD.items()
        for path in _sources(package)
    }
    assert {file: packages for file, packages in outside.items() if packages} == {}


def test_utc_now_is_defined_once() -> None:
    definitions = [
        str(path.relative_to(ROOT))
        for package in sorted(OURS)
        for path in _sources(package)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef) and node.name == "utc_now"
    ]
    assert definitions == ["infra/clock.py"]
