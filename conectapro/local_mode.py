"""The composition root's local-mode choices: without Meta credentials, and never in production, replies go
to the development Graph API sandbox, served inside the sender's process (``devtools.graph_sandbox``), and
the operator API also serves the WhatsApp simulator (``devtools.simulator``)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from devtools.graph_sandbox import Sandbox, SandboxServer
from devtools.graph_sandbox_statuses import StatusWebhook
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


def local_webhook(settings: Settings) -> tuple[str, str]:
    """Where Meta's stand-ins post webhooks, and the app secret they sign with (the one the ingress checks:
    the generated one in local mode)."""
    secret = settings.whatsapp_app_secret
    app_secret = secret.get_secret_value() if secret else local_secret(settings.conectapro_data_dir.resolve(),
                                                                       "whatsapp_app_secret")  # fmt: skip
    url = settings.local_webhook_url or f"http://{settings.ingress_host}:{settings.ingress_port}/webhook"
    return url, app_secret


def local_sandbox(settings: Settings) -> Sandbox:
    """The sandbox of ``conectapro run``: its outbox in the data folder, and, like Meta, each message's
    statuses posted to the local ingress, signed."""
    outbox = settings.conectapro_data_dir.resolve() / "sandbox" / "outbox.jsonl"
    return Sandbox(outbox_path=outbox, status_webhook=StatusWebhook(*local_webhook(settings)))


@asynccontextmanager
async def build_sender(settings: Settings, *, sandbox: Sandbox | None = None) -> AsyncIterator[Sender]:
    """The sender, to Meta's Graph API, or in local mode to ``sandbox`` (default: ``local_sandbox``) on
    SANDBOX_PORT."""
    if not uses_sandbox(settings):
        async with build(settings) as sender:
            yield sender
        return
    sandbox = sandbox or local_sandbox(settings)
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
    webhook_url, app_secret = local_webhook(settings)
    return SimulatorConfig(
        webhook_url=webhook_url,
        app_secret=app_secret,
        sandbox_url=settings.local_sandbox_url or f"http://{settings.ingress_host}:{settings.sandbox_port}",
    )
