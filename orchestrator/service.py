"""`conectapro run orchestrator`: inbound consumers → handler → event store, plus the technicians' directory."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from eventstore import PostgresEventStore
from infra.clock import utc_now
from infra.jetstream import connect, ensure_topology
from infra.runtime import Runtime
from orchestrator.commands_consumer import CommandHandler, run_command_partitions
from orchestrator.consumer import run_partitions
from orchestrator.handler import InboundHandler
from orchestrator.provider_directory import ProviderDirectory

log = structlog.get_logger("orchestrator")



async def serve(runtime: Runtime) -> None:
    settings = runtime.settings
    # Inbound and command consumers each hold at most one connection per partition. No session reset on
    # release: the orchestrator's statements leave no session state, and the reset was a round trip per use.
    store = await PostgresEventStore.connect(
        runtime.database_url, max_size=2 * settings.inbound_partitions + 4, reset_sessions=False
    )
    nc = await connect(runtime.nats_url, "orchestrator")
    js = nc.jetstream()
    await ensure_topology(js, inbound_retention_days=settings.inbound_retention_days)
    directory = ProviderDirectory(store)
    await directory.catch_up()
    handler = InboundHandler(store, directory, clock=utc_now)
    # The closer's timer commands, decided on the same streams with the same directory.
    commands = CommandHandler(store, directory, clock=utc_now)
    follow_task = asyncio.create_task(directory.follow(), name="provider-directory")
    log.info("orchestrator_consuming", partitions=settings.inbound_partitions)
    try:
        await asyncio.gather(
            run_partitions(
                js,
                settings.inbound_partitions,
                handler.handle,
                runtime.stopping,
                ack_wait=settings.inbound_ack_wait_seconds,
            ),
            run_command_partitions(
                js,
                settings.inbound_partitions,
                commands.handle,
                runtime.stopping,
                ack_wait=settings.inbound_ack_wait_seconds,
            ),
        )
    finally:
        follow_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follow_task
        # close, not drain: nats-py's drain waits forever on pull subscriptions; every ack is already sent.
        await nc.close()
        await store.close()
