"""The composition root's local-mode choices: without Meta credentials, and never in production, replies go
to the development Graph API sandbox, served inside the sender's process (``devtools.graph_sandbox``), and
the operator API also serves the WhatsApp simulator (``devtools.simulator``)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from devtools.graph_sandbox import Sandbox, SandboxServer
from devtools.simulator.app import SimulatorConfig, create_simulator_router
from infra.settings import Settings, local_secret
from outbound.service import GraphApi, Sender, build
from projections.operator_api import service as operator_api

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


@asynccontextmanager
async def build_operator_api(settings: Settings) -> AsyncIterator[operator_api.OperatorApi]:
    """The operator API; in local mode with the WhatsApp simulator at ``/simulator`` beside the console."""
    async with operator_api.build(settings) as api:
        if uses_sandbox(settings):
            api.app.include_router(create_simulator_router(simulator_config(settings)))
            print(
                f"operator_api: WhatsApp simulator at http://{settings.operator_api_host}:{settings.operator_api_port}"
                "/simulator",
                file=sys.stderr,
                flush=True,
            )
        yield api


def simulator_config(settings: Settings) -> SimulatorConfig:
    """Signs as Meta would, with the app secret the ingress checks (the generated one in local mode)."""
    secret = settings.whatsapp_app_secret
    app_secret = secret.get_secret_value() if secret else local_secret(settings.conectapro_data_dir.resolve(),
                                                                       "whatsapp_app_secret")  # fmt: skip
    return SimulatorConfig(
        webhook_url=f"http://{settings.ingress_host}:{settings.ingress_port}/webhook",
        app_secret=app_secret,
        sandbox_url=f"http://{settings.ingress_host}:{settings.sandbox_port}",
    )
