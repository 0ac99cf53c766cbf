"""Where the test fixtures live.

Everything a test reads lives inside the repository and is located relative to this file, never relative
to the working directory: a fresh clone with nothing beside it runs the whole suite.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def real_whatsapp_fixtures_dir() -> Path:
    """Real payloads copied verbatim from public sources (``tests/fixtures/whatsapp/real``, see its README)."""
    return REPO_ROOT / "tests" / "fixtures" / "whatsapp" / "real"


def local_whatsapp_fixtures_dir() -> Path:
    """Our own synthetic payloads, one per documented shape (``tests/fixtures/whatsapp``)."""
    return REPO_ROOT / "tests" / "fixtures" / "whatsapp"


def json_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.json"))
