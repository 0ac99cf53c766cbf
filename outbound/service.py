"""`conectapro run sender`: the outbound sender, to Meta or — without an access token — the local sandbox."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from devtools.graph_sandbox import Sandbox, SandboxServer
from eventstore import PostgresEventStore
from infra.clock import utc_now
from infra.runtime import Runtime
from outbound.sender import ReplySender
from outbound.throughput import ThroughputLimiter
from outbound.whatsapp_client import WhatsAppClient

log = structlog.get_logger("sender")

SANDBOX_PHONE_NUMBER_ID = "100000000000001"


async def serve(runtime: Runtime) -> None:
    settings = runtime.settings
    store = await PostgresEventStore.connect(runtime.database_url, max_size=4)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(store.close)
        token = settings.whatsapp_access_token
        if token is None and settings.is_production:
            # A sandbox in production would swallow every reply while looking healthy.
            raise SystemExit("production mode: WHATSAPP_ACCESS_TOKEN is required to send replies")
        if token is None:
            outbox = settings.conectapro_data_dir.resolve() / "sandbox" / "outbox.jsonl"
            server = await stack.enter_async_context(
                SandboxServer(Sandbox(outbox_path=outbox), host=settings.ingress_host, port=settings.sandbox_port)
            )
            base_url, access_token, phone_number_id = server.api_base_url, "sandbox", SANDBOX_PHONE_NUMBER_ID
            print(f"sender: no WHATSAPP_ACCESS_TOKEN — replies go to the local sandbox: {server.url}/sandbox/messages")
        else:
            if not settings.whatsapp_phone_number_id:
                raise SystemExit("WHATSAPP_PHONE_NUMBER_ID is required with WHATSAPP_ACCESS_TOKEN")
            base_url = settings.whatsapp_api_base_url
            access_token, phone_number_id = token.get_secret_value(), settings.whatsapp_phone_number_id
        client = await stack.enter_async_context(
            WhatsAppClient(base_url, access_token, phone_number_id, limiter=ThroughputLimiter())
        )
        sender = ReplySender(store, client, clock=utc_now)
        log.info("sender_running", sandbox=token is None)
        task = asyncio.create_task(sender.run(), name="sender")
        stop = asyncio.create_task(runtime.stopping.wait())
        await asyncio.wait([task, stop], return_when=asyncio.FIRST_COMPLETED)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        stop.cancel()
