"""The composition root's local-mode choice: without Meta credentials, and never in production, replies go
to the development Graph API sandbox, served inside the sender's process (``devtools.graph_sandbox``)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from devtools.graph_sandbox import Sandbox, SandboxServer
from infra.settings import Settings
from outbound.service import GraphApi, Sender, build

SANDBOX_PHONE_NUMBER_ID = "100000000000001"


def uses_sandbox(settings: Settings) -> bool:
    # A sandbox in production would swallow every reply while looking healthy: there, the sender refuses.
    return settings.whatsapp_access_token is None and not settings.is_production


def check_sender(settings: Settings) -> None:
    """Raise before any process starts if the sender could not be built (missing Graph API settings)."""
    if not uses_sandbox(settings):
        GraphApi.from_settings(settings)


@asynccontextmanager
async def build_sender(settings: Settings, *, sandbox: Sandbox | None = None) -> AsyncIterator[Sender]:
    """The sender, to Meta's Graph API, or in local mode to ``sandbox`` (default: one whose outbox is kept
    in ``<data dir>/sandbox/outbox.jsonl``) on SANDBOX_PORT."""
    if not uses_sandbox(settings):
        async with build(settings) as sender:
            yield sender
        return
    sandbox = sandbox or Sandbox(outbox_path=settings.conectapro_data_dir.resolve() / "sandbox" / "outbox.jsonl")
    async with SandboxServer(sandbox, host=settings.ingress_host, port=settings.sandbox_port) as server:
        print(
            f"sender: no WHATSAPP_ACCESS_TOKEN — replies go to the local sandbox: {server.url}/sandbox/messages",
            file=sys.stderr,
            flush=True,
        )
        graph_api = GraphApi(server.api_base_url, "sandbox", SANDBOX_PHONE_NUMBER_ID)
        async with build(settings, graph_api=graph_api) as sender:
            yield sender
