"""`conectapro run ingress`: the webhook app on uvicorn, wired to JetStream."""

from __future__ import annotations

import sys

import structlog

from infra.http_server import serve_until_stopped
from infra.jetstream import connect, ensure_topology
from infra.runtime import Runtime
from infra.settings import Settings, local_secret
from ingress.app import IngressConfig, create_app
from ingress.publisher import InboundPublisher

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


async def serve(runtime: Runtime) -> None:
    settings = runtime.settings
    config = ingress_config(settings)
    nc = await connect(runtime.nats_url, "ingress")
    js = nc.jetstream()
    await ensure_topology(js, inbound_retention_days=settings.inbound_retention_days)
    publisher = InboundPublisher(nc, js, partitions=settings.inbound_partitions)
    app = create_app(config, publisher)
    try:
        await serve_until_stopped(
            app,
            host=settings.ingress_host,
            port=settings.ingress_port,
            stopping=runtime.stopping,
            name="ingress",
            # The webhook reads neither the client's address nor the scheme: no per-request middleware.
            proxy_headers=False,
        )
    finally:
        await nc.drain()
