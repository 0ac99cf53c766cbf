"""`conectapro run sender`: the outbound sender, following the store and sending through the Graph API
(the service's bootstrap). Which Graph API — Meta's, or a local stand-in — is the composition root's choice
(``conectapro.local_mode`` picks the development sandbox); this package never imports development tools."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import structlog
from nats.aio.client import Client as NATS

from contracts.outbound import ReplyFailed, ReplySendAttempted, ReplySendSettled, ReplySent
from eventstore import PostgresEventStore
from infra.clock import utc_now
from infra.runtime import nats_connection
from infra.settings import Settings
from infra.telemetry import background
from orchestrator.llm_requester import LlmRequester
from outbound.rewording import Reworder
from outbound.sender import ReplySender
from outbound.throughput import ThroughputLimiter, ThroughputLimits
from outbound.whatsapp_client import WhatsAppClient
from privacy.setup import privacy_of, service_store

SENDER_RECORD_TYPES = frozenset(t.TYPE for t in (ReplySendAttempted, ReplySent, ReplyFailed, ReplySendSettled))

log = structlog.get_logger("sender")


class GraphApiNotConfigured(RuntimeError):
    """Sending needs WHATSAPP_ACCESS_TOKEN and WHATSAPP_PHONE_NUMBER_ID."""


@dataclass(frozen=True)
class GraphApi:
    """Where replies are sent, and as whom."""

    base_url: str
    access_token: str
    phone_number_id: str

    @classmethod
    def from_settings(cls, settings: Settings) -> GraphApi:
        token = settings.whatsapp_access_token
        if token is None:
            raise GraphApiNotConfigured("WHATSAPP_ACCESS_TOKEN is required to send replies")
        if not settings.whatsapp_phone_number_id:
            raise GraphApiNotConfigured("WHATSAPP_PHONE_NUMBER_ID is required with WHATSAPP_ACCESS_TOKEN")
        return cls(settings.whatsapp_api_base_url, token.get_secret_value(), settings.whatsapp_phone_number_id)


@dataclass
class Sender:
    sender: ReplySender

    async def run(self, stopping: asyncio.Event) -> None:
        with background():  # following the store starts no trace; each send continues its decision's
            task = asyncio.create_task(self.sender.run(), name="sender")
        stop = asyncio.create_task(stopping.wait())
        try:
            await asyncio.wait([task, stop], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@asynccontextmanager
async def build(
    settings: Settings,
    *,
    graph_api: GraphApi | None = None,
    store: PostgresEventStore | None = None,
    nats: NATS | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> AsyncIterator[Sender]:
    """The sender; ``graph_api`` defaults to Meta's, as the settings name it."""
    graph_api = graph_api or GraphApi.from_settings(settings)
    async with AsyncExitStack() as stack:
        # NATS to wake the sender when replies are queued (a store given is woken as its owner decided).
        if store is None or settings.llm_rephrase_enabled:
            nats = await nats_connection(stack, settings, nats, name="sender")
        # No session reset on release: the sender's statements leave no session state behind.
        store = await service_store(stack, settings, store, nats=nats, max_size=4, reset_sessions=False)
        # The sender's records are followed by read models only: their wake-ups may gather for a moment.
        store.notify_unhurried(SENDER_RECORD_TYPES)
        privacy = privacy_of(store)
        limits = ThroughputLimits(messages_per_second=settings.whatsapp_messages_per_second)
        client = await stack.enter_async_context(
            WhatsAppClient(
                graph_api.base_url,
                graph_api.access_token,
                graph_api.phone_number_id,
                limiter=ThroughputLimiter(limits),
                wamid_of=privacy.wamids if privacy is not None else str,
            )
        )
        reworder = None
        if nats is not None and settings.llm_rephrase_enabled:
            # Core NATS request/reply to the adapter; "no responders" (not running): the texts go as decided.
            reworder = Reworder(LlmRequester(nats, settings.llm_rephrase_timeout_seconds))
        log.info("sender_running", graph_api=graph_api.base_url, rephrase=reworder is not None)
        window = settings.sender_unconfirmed_resend_seconds
        yield Sender(ReplySender(store, client, clock=clock, unconfirmed_resend_seconds=window, reworder=reworder))
