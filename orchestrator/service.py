"""`conectapro run orchestrator`: inbound and timer-command consumers → decisions → event store, with the
technicians' directory (the service's bootstrap)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime

import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from contracts.inbound import InboundEnvelope, parse_envelope
from contracts.outbound import ReplyDeliveryUpdated
from eventstore import PostgresEventStore
from eventstore.group_commit import GroupCommit
from infra.clock import utc_now
from infra.jetstream import ensure_topology
from infra.runtime import nats_connection
from infra.settings import Settings
from infra.telemetry import background
from orchestrator.commands_consumer import CommandHandler, run_command_partitions
from orchestrator.consumer import OrderedStream
from orchestrator.handler import InboundHandler
from orchestrator.inbound_consumer import INBOUND, run_partitions
from orchestrator.llm_requester import LlmRequester
from orchestrator.parked import ParkedMessages
from orchestrator.pending import orchestrator_consumers, report_pending
from orchestrator.provider_directory import ProviderDirectory
from orchestrator.raw_statuses import RawStatuses
from privacy.person_tokens import PersonTokens
from privacy.setup import protect, service_store

log = structlog.get_logger("orchestrator")

#: How long a delivery status may wait to share its transaction (it holds only its sender's lane meanwhile).
FACTS_PATIENCE_SECONDS = 0.05


@dataclass
class Orchestrator:
    js: JetStreamContext
    directory: ProviderDirectory
    inbound: InboundHandler
    #: The closer's timer commands, decided on the same streams with the same directory.
    commands: CommandHandler
    partitions: int
    ack_wait: float
    #: Inbound messages of one partition in flight at once (in order per customer).
    concurrency: int
    #: Tells a customer whose message was parked.
    parked: ParkedMessages
    #: The inbound stream as this orchestrator reads it: wamids carrying a phone become their pseudonyms
    #: before anything (inbox, events, logs, dead-letter reasons) sees them (``privacy.wamids``).
    inbound_stream: OrderedStream[InboundEnvelope] = INBOUND

    async def run(self, stopping: asyncio.Event) -> None:
        with background():  # queries outside a message (the directory's follower) start no trace
            await self._run(stopping)

    async def _run(self, stopping: asyncio.Event) -> None:
        follow_task = asyncio.create_task(self.directory.follow(), name="provider-directory")
        pending_task = asyncio.create_task(report_pending(self.js, orchestrator_consumers(self.partitions)))
        log.info("orchestrator_consuming", partitions=self.partitions)
        try:
            await asyncio.gather(
                run_partitions(
                    self.js,
                    self.partitions,
                    self.inbound.handle,
                    stopping,
                    ack_wait=self.ack_wait,
                    concurrency=self.concurrency,
                    on_parked=self.parked.tell_sender,
                    spec=self.inbound_stream,
                ),
                run_command_partitions(
                    self.js, self.partitions, self.commands.handle, stopping, ack_wait=self.ack_wait
                ),
            )
        finally:
            for task in (follow_task, pending_task):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


@asynccontextmanager
async def build(
    settings: Settings,
    *,
    store: PostgresEventStore | None = None,
    nats: NATS | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> AsyncIterator[Orchestrator]:
    async with AsyncExitStack() as stack:
        # About two connections per partition: inbound lanes beyond that wait their turn for one (a decision
        # holds it only to read and to append, not while it understands). No session reset on release: the
        # orchestrator's statements leave no session state, and the reset was a round trip per use.
        nc = await nats_connection(stack, settings, nats, name="orchestrator", drain=False)
        store = await service_store(
            stack, settings, store, nats=nc, max_size=2 * settings.inbound_partitions + 4, reset_sessions=False
        )
        # Delivery statuses are followed by read models only: their wake-ups may gather for a moment.
        store.notify_unhurried([ReplyDeliveryUpdated.TYPE])
        js = nc.jetstream()
        await ensure_topology(
            js, inbound_retention_days=settings.inbound_retention_days, replicas=settings.jetstream_replicas
        )
        privacy = protect(store, settings)
        people = privacy.people
        directory = ProviderDirectory(store)
        await directory.catch_up()
        # The LLM adapter, asked over core NATS request/reply; "no responders" (not running) reads as off.
        language_model = LlmRequester(nc, settings.llm_timeout_seconds) if settings.llm_enabled else None
        # Decisions and delivery statuses committed at the same moment share a transaction; a status (or
        # another fact) waits a moment for others, and a decision takes the waiting ones along at once.
        appender = GroupCommit(store, patience=FACTS_PATIENCE_SECONDS)
        commands = CommandHandler(store, directory, clock=clock, appender=appender)
        inbound = InboundHandler(
            store, directory, people=people, clock=clock, language_model=language_model, appender=appender,
            raw_statuses=RawStatuses(js, settings.inbound_partitions, PersonTokens.of(privacy.master)),
            facts=appender.patiently,
        )  # fmt: skip
        yield Orchestrator(
            js,
            directory,
            inbound,
            commands,
            settings.inbound_partitions,
            settings.inbound_ack_wait_seconds,
            settings.inbound_concurrency_per_partition,
            ParkedMessages(commands, directory, people),
            replace(INBOUND, parse=lambda data: privacy.wamids.envelope(parse_envelope(data))),
        )
