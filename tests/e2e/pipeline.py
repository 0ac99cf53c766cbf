"""The whole pipeline in one test process: webhook → JetStream → orchestrator → event store → sender → sandbox.

Every part is the production code against real PostgreSQL and NATS; only the Graph API is the local
sandbox (a real HTTP server that speaks its protocol).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from nats.aio.client import Client as NATS

from contracts.commands import RegisterProvider
from contracts.intent import Service
from devtools.graph_sandbox import Sandbox, SandboxServer
from eventstore import PostgresEventStore
from infra.clock import utc_now
from infra.jetstream import ensure_topology
from ingress.app import IngressConfig, create_app
from ingress.publisher import InboundPublisher
from orchestrator.consumer import run_partitions
from orchestrator.handler import InboundHandler
from orchestrator.provider_directory import ProviderDirectory
from orchestrator.understanding.reply_ids import OFFER_ACCEPT_PREFIX
from outbound.sender import ReplySender
from outbound.whatsapp_client import RetryPolicy, WhatsAppClient
from projections.operator_api.technician_actions import execute, provider_id_for_phone
from tests.whatsapp_builders import button_reply, signed, text_message

SECRET = "e2e-app-secret-0123456789"
PARTITIONS = 4


@dataclass
class Pipeline:
    http: httpx.AsyncClient
    store: PostgresEventStore
    sandbox: Sandbox
    directory: ProviderDirectory
    nats: NATS
    _wamids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def post(self, payload: dict[str, Any]) -> httpx.Response:
        body, headers = signed(payload, SECRET)
        response = await self.http.post("/webhook", content=body, headers=headers)
        assert response.status_code == 200, response.text
        return response

    def next_wamid(self) -> str:
        return f"wamid.E2E{next(self._wamids):06d}"

    async def says(self, phone: str, text: str) -> str:
        wamid = self.next_wamid()
        await self.post(text_message(wamid, phone, text))
        return wamid

    async def taps(self, phone: str, reply_id: str, title: str = "opción") -> str:
        wamid = self.next_wamid()
        await self.post(button_reply(wamid, phone, reply_id, title))
        return wamid

    async def register(self, name: str, phone: str, services: tuple[Service, ...], comunas: tuple[str, ...]) -> str:
        provider_id = provider_id_for_phone(phone)
        command = RegisterProvider(
            command_id=f"register-{provider_id}", provider_id=provider_id, name=name, phone=phone,
            services=services, comunas=comunas,
        )  # fmt: skip
        await execute(self.store, command, clock=utc_now)
        for _ in range(200):  # the orchestrator's directory follows the store
            if provider_id in self.directory.views:
                return provider_id
            await asyncio.sleep(0.02)
        raise AssertionError("the directory never saw the registration")

    async def outbox(self, to: str, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The first ``count`` messages the sandbox received for ``to`` (waits for them)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            messages = self.sandbox.messages(to=to)
            if len(messages) >= count:
                return [m["payload"] for m in messages]
            await asyncio.sleep(0.05)
        got = [m["payload"] for m in self.sandbox.messages(to=to)]
        raise AssertionError(f"expected {count} messages to {to}, got {len(got)}: {got}")

    async def offer(
        self, among: tuple[str, ...], lead_id: str = "", timeout: float = 15.0
    ) -> tuple[str, dict[str, Any]]:
        """Which of ``among`` was offered a lead (``lead_id``, or any), and the offer. Waits for it: the sender
        is asynchronous, so "who has a message now" could miss an offer still on its way."""
        accept = f"{OFFER_ACCEPT_PREFIX}{lead_id}"
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            for phone in among:
                for message in self.sandbox.messages(to=phone):
                    payload = message["payload"]
                    if payload["type"] == "interactive" and any(i.startswith(accept) for i in button_ids(payload)):
                        return phone, payload
            await asyncio.sleep(0.05)
        raise AssertionError(f"no offer of lead {lead_id or '(any)'} reached any of {among}")

    async def replies_all_sent(self, timeout: float = 15.0) -> None:
        """Waits until the sender has recorded every queued reply as sent or failed (nothing in flight)."""
        deadline = asyncio.get_running_loop().time() + timeout
        query = (
            "SELECT count(*) FILTER (WHERE type = 'ReplyQueued'),"
            " count(*) FILTER (WHERE type IN ('ReplySent', 'ReplyFailed')) FROM events"
        )
        while asyncio.get_running_loop().time() < deadline:
            counts = await self.store.pool.fetchrow(query)
            assert counts is not None  # an aggregate always returns a row
            if counts[0] == counts[1]:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"replies still in flight after {timeout} s")

    async def stream_types_when(
        self, stream_id: str, condition: Callable[[list[str]], bool], timeout: float = 15.0
    ) -> list[str]:
        """The stream's event types once ``condition`` holds for them (the sender records asynchronously)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            types = [event.type for event in await self.store.read_stream(stream_id)]
            if condition(types) or asyncio.get_running_loop().time() > deadline:
                return types
            await asyncio.sleep(0.05)


def text_of(payload: dict[str, Any]) -> str:
    if payload["type"] == "text":
        return str(payload["text"]["body"])
    return str(payload["interactive"]["body"]["text"])


def button_ids(payload: dict[str, Any]) -> list[str]:
    return [b["reply"]["id"] for b in payload["interactive"]["action"]["buttons"]]


@contextlib.asynccontextmanager
async def running_pipeline(database_url: str, nc: NATS) -> AsyncIterator[Pipeline]:
    js = nc.jetstream()
    await ensure_topology(js)
    store = await PostgresEventStore.connect(database_url, max_size=PARTITIONS + 6)
    stopping = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    async with SandboxServer(Sandbox()) as sandbox_server:
        client = WhatsAppClient(
            sandbox_server.api_base_url,
            "token",
            "100000000000001",
            retry=RetryPolicy(initial_backoff=0.01, max_backoff=0.05),
        )
        directory = ProviderDirectory(store)
        await directory.catch_up()
        handler = InboundHandler(store, directory, clock=utc_now)
        tasks.append(asyncio.create_task(directory.follow()))
        tasks.append(asyncio.create_task(run_partitions(js, PARTITIONS, handler.handle, stopping)))
        tasks.append(asyncio.create_task(ReplySender(store, client, clock=utc_now).run()))
        publisher = InboundPublisher(nc, js, partitions=PARTITIONS)
        app = create_app(IngressConfig(app_secret=SECRET, verify_token="v"), publisher)
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingress") as http:
                yield Pipeline(http, store, sandbox_server.sandbox, directory, nc)
        finally:
            stopping.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await client.aclose()
            await store.close()
