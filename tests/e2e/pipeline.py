"""The whole pipeline in one test process, built by the same bootstraps as `conectapro run`: every service it
starts by default (ingress, orchestrator with its command consumer, sender, closer, projections, operator
API; the LLM adapter is off), each with its own pools and NATS connection, the HTTP ones on real ports.

Every part is the production code against real PostgreSQL and NATS; only the Graph API is the local
sandbox (a real HTTP server that speaks its protocol), as `conectapro run` picks it in local mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from nats.aio.client import Client as NATS

from conectapro.local_mode import build_sender
from conectapro.service_table import default_services
from contracts.intent import Service
from devtools.graph_sandbox import Sandbox
from eventstore import PostgresEventStore
from infra.embedded import free_port
from infra.runtime import Builder, load
from infra.runtime import Service as RunningService
from infra.settings import CloserSettings, Environment, Settings
from orchestrator.domain.ids import customer_stream_id
from orchestrator.provider_directory import ProviderDirectory
from orchestrator.service import Orchestrator
from orchestrator.understanding.reply_ids import OFFER_ACCEPT_PREFIX
from privacy.master_key import MasterKey
from privacy.people import People
from privacy.person_tokens import PersonTokens
from privacy.setup import protect
from tests.whatsapp_builders import button_reply, signed, text_message

SECRET = "e2e-app-secret-0123456789"
OPERATOR_TOKEN = "e2e-operator-token-0123456789"
PRIVACY_MASTER_KEY = "e2e-privacy-master-key-0123456789abcdef"
PARTITIONS = 4
#: The person tokens of the pipeline's subjects (its ingress uses the same master key).
PERSON_TOKENS = PersonTokens.of(MasterKey(PRIVACY_MASTER_KEY))


def pipeline_settings(database_url: str, nats_url: str, closer: CloserSettings | None = None) -> Settings:
    """Local mode on free ports, with fixed secrets; nothing taken from the environment that matters."""
    return Settings(
        conectapro_env=Environment.LOCAL,
        database_url=database_url,
        nats_url=nats_url,
        ingress_port=free_port(),
        operator_api_port=free_port(),
        sandbox_port=free_port(),  # the simulator reads the sandbox at this port
        whatsapp_app_secret=SECRET,
        whatsapp_verify_token="v",
        whatsapp_access_token=None,
        operator_api_token=OPERATOR_TOKEN,
        privacy_master_key=PRIVACY_MASTER_KEY,
        inbound_partitions=PARTITIONS,
        closer=closer or CloserSettings(tick_seconds=0.2),
        llm_enabled=False,
    )


@dataclass
class Pipeline:
    http: httpx.AsyncClient
    operator_api: httpx.AsyncClient
    store: PostgresEventStore
    sandbox: Sandbox
    directory: ProviderDirectory
    nats: NATS
    tasks: list[asyncio.Task[None]]
    people: People
    _wamids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def check_services(self) -> None:
        """Fail at once if a service stopped: waiting for its work would only time out."""
        for task in self.tasks:
            if task.done():
                raise AssertionError(f"service {task.get_name()} stopped: {task.exception()!r}")

    async def post(self, payload: dict[str, Any]) -> httpx.Response:
        body, headers = signed(payload, SECRET)
        response = await self.http.post("/webhook", content=body, headers=headers)
        assert response.status_code == 200, response.text
        return response

    async def customer_stream(self, phone: str) -> str:
        """The stream of this phone's conversation (the orchestrator gave the person a random key)."""
        return customer_stream_id(await self.person(phone))

    async def person(self, phone: str, timeout: float = 30.0) -> str:
        """The person key of this phone, once the orchestrator has seen it."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (key := await self.people.find(phone)) is None:
            self.check_services()
            assert asyncio.get_running_loop().time() < deadline, "the orchestrator never saw this phone"
            await asyncio.sleep(0.02)
        return key

    async def received_until(self, phone: str, sentinel: str) -> list[str]:
        """The wamids of the customer's messages handled up to ``sentinel`` (waits for it to be handled)."""
        stream_id = await self.customer_stream(phone)
        for _ in range(300):
            events = await self.store.read_stream(stream_id)
            wamids = [e.data["wamid"] for e in events if e.type == "MessageReceived"]
            if sentinel in wamids:
                return wamids
            await asyncio.sleep(0.05)
        raise AssertionError(f"{sentinel} was never handled; only {wamids} were")

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
        body = {"name": name, "phone": phone, "services": list(services), "comunas": list(comunas)}
        response = await self.operator_api.post("/v1/providers", json=body)
        assert response.status_code == 201, response.text
        provider_id = str(response.json()["provider_id"])
        for _ in range(200):  # the orchestrator's directory follows the store
            if provider_id in self.directory.views:
                return provider_id
            await asyncio.sleep(0.02)
        raise AssertionError("the directory never saw the registration")

    async def outbox(self, to: str, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The first ``count`` messages the sandbox received for ``to`` (waits for them)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            self.check_services()
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
            self.check_services()
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


def text_of(payload: dict[str, Any]) -> str:
    if payload["type"] == "text":
        return str(payload["text"]["body"])
    return str(payload["interactive"]["body"]["text"])


def button_ids(payload: dict[str, Any]) -> list[str]:
    return [b["reply"]["id"] for b in payload["interactive"]["action"]["buttons"]]


@contextlib.asynccontextmanager
async def running_pipeline(
    database_url: str, nc: NATS, nats_url: str, *, closer: CloserSettings | None = None, **settings_changed: Any
) -> AsyncIterator[Pipeline]:
    """The services `conectapro run` starts by default, built by their bootstraps, running until the block ends.

    ``nc`` is the test's own connection (to publish to JetStream directly); the services open theirs.
    ``closer``: other timers than the defaults (a test that waits for one); ``settings_changed``: other
    settings (e.g. ``llm_rephrase_enabled=True``)."""
    settings = pipeline_settings(database_url, nats_url, closer).model_copy(update=settings_changed)
    sandbox = Sandbox()
    builders: dict[str, Builder] = {name: load(name) for name in default_services(settings)}
    builders["sender"] = functools.partial(build_sender, sandbox=sandbox)  # the composition root's, kept in reach
    stopping = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        services: dict[str, RunningService] = {}
        for name, build in builders.items():
            services[name] = await stack.enter_async_context(build(settings))
        tasks = [asyncio.create_task(service.run(stopping), name=name) for name, service in services.items()]
        stack.push_async_callback(_stop, stopping, tasks)
        orchestrator = services["orchestrator"]
        assert isinstance(orchestrator, Orchestrator)
        store = await PostgresEventStore.connect(database_url, max_size=4)
        stack.push_async_callback(store.close)
        people = protect(store, settings).people
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=f"http://{settings.ingress_host}:{settings.ingress_port}")
        )
        operator_api = await stack.enter_async_context(
            httpx.AsyncClient(
                base_url=f"http://{settings.operator_api_host}:{settings.operator_api_port}",
                headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
            )
        )
        pipeline = Pipeline(http, operator_api, store, sandbox, orchestrator.directory, nc, tasks, people)
        for client in (http, operator_api):
            await _listening(client, pipeline)
        yield pipeline


async def _listening(client: httpx.AsyncClient, pipeline: Pipeline, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        pipeline.check_services()
        with contextlib.suppress(httpx.TransportError):
            if (await client.get("/healthz")).status_code == 200:
                return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{client.base_url} never answered /healthz")
        await asyncio.sleep(0.05)


async def _stop(stopping: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    """Stop every service as `conectapro run` does; a service that failed fails the test."""
    stopping.set()
    _, pending = await asyncio.wait(tasks, timeout=15)
    for task in pending:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)]
    if pending:
        raise AssertionError(f"services did not stop within 15 s: {[task.get_name() for task in pending]}")
    if failures:
        raise failures[0]
