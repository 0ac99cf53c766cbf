"""`conectapro run ingress`: the webhook app on uvicorn, wired to JetStream (the service's bootstrap)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import structlog
from nats.aio.client import Client as NATS

from infra.http_server import serve_until_stopped
from infra.jetstream import ensure_topology
from infra.metrics_server import include
from infra.runtime import nats_connection
from infra.settings import Settings, local_secret
from infra.telemetry import traced_asgi
from ingress.app import IngressConfig, WebhookDelivery, create_app
from ingress.http_protocol import OneSendPerResponse
from ingress.metrics import IngressMetrics
from ingress.publisher import InboundPublisher
from privacy.master_key import MasterKey
from privacy.person_tokens import PersonTokens
from privacy.setup import master_secret

log = structlog.get_logger("ingress")


def ingress_config(settings: Settings) -> IngressConfig:
    """Real secrets from the environment; in local mode, generated ones kept in the data folder."""
    data_dir = settings.conectapro_data_dir.resolve()
    app_secret = settings.whatsapp_app_secret
    verify_token = settings.whatsapp_verify_token
    generated = []
    if app_secret is None:
        generated.append("WHATSAPP_APP_SECRET")
    if verify_token is None:
        generated.append("WHATSAPP_VERIFY_TOKEN")
    config = IngressConfig(
        app_secret=app_secret.get_secret_value() if app_secret else local_secret(data_dir, "whatsapp_app_secret"),
        verify_token=(
            verify_token.get_secret_value() if verify_token else local_secret(data_dir, "whatsapp_verify_token")
        ),
    )
    if generated:
        # Printed to the terminal (not the log stream) so a developer can sign test requests.
        print(
            f"ingress: generated local {', '.join(generated)} in {data_dir / 'secrets'}:\n"
            f"  WHATSAPP_APP_SECRET={config.app_secret}\n  WHATSAPP_VERIFY_TOKEN={config.verify_token}",
            file=sys.stderr,
            flush=True,
        )
    return config


@dataclass
class Ingress:
    app: WebhookDelivery
    host: str
    port: int
    #: One of several ingress processes on the same port (``INGRESS_WORKERS``).
    shares_port: bool = False

    async def run(self, stopping: asyncio.Event) -> None:
        await serve_until_stopped(
            traced_asgi(self.app, "POST /webhook"),
            host=self.host,
            port=self.port,
            stopping=stopping,
            name="ingress",
            # The webhook reads neither the client's address nor the scheme: no per-request middleware.
            proxy_headers=False,
            reuse_port=self.shares_port,
            http=OneSendPerResponse,
        )


@asynccontextmanager
async def build(
    settings: Settings, *, nats: NATS | None = None, config: IngressConfig | None = None
) -> AsyncIterator[Ingress]:
    """The webhook service; ``config`` defaults to the secrets of :func:`ingress_config`."""
    config = config or ingress_config(settings)
    async with AsyncExitStack() as stack:
        nc = await nats_connection(stack, settings, nats, name="ingress")
        js = nc.jetstream()
        await ensure_topology(
            js, inbound_retention_days=settings.inbound_retention_days, replicas=settings.jetstream_replicas
        )
        tokens = PersonTokens.of(MasterKey(master_secret(settings)))
        publisher = InboundPublisher(nc, js, partitions=settings.inbound_partitions, person_token=tokens)
        metrics = IngressMetrics()
        include("ingress", metrics.registry)  # on METRICS_PORT too, beside the webhook's own /metrics
        yield Ingress(
            create_app(config, publisher, metrics),
            settings.ingress_host,
            settings.ingress_port,
            shares_port=settings.ingress_workers > 1,
        )
