"""Where the test fixtures live.

The real WhatsApp payloads are shared between projects in ``shared/`` beside the repository (CI clones
the repo into a fresh folder with ``shared/`` next to it), so they are located relative to this file,
never relative to the working directory.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_whatsapp_fixtures_dir() -> Path:
    """Real payloads copied verbatim from public sources (``shared/fixtures/whatsapp``)."""
    return REPO_ROOT.parent / "shared" / "fixtures" / "whatsapp"


def local_whatsapp_fixtures_dir() -> Path:
    """Our own synthetic payloads, one per documented shape (``tests/fixtures/whatsapp``)."""
    return REPO_ROOT / "tests" / "fixtures" / "whatsapp"


def json_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.json"))
