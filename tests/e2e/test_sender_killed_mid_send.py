"""SIGKILL the sender between the Graph API's 200 and its record: after a restart WhatsApp has one copy.

Real processes and servers throughout: the sender runs as ``conectapro run sender`` in a child process
against the Graph API sandbox on a real port; the sandbox posts signed status webhooks (echoing
``biz_opaque_callback_data``) to the ingress on a real port, as Meta does; the orchestrator records them.

To kill at exactly that point, the sandbox's answer gate takes the inbox id of the sender's coming record
in an open transaction before the 200 goes back: the sender's append then waits on it, and the test kills
the sender once PostgreSQL shows it waiting (and ends that statement, which would otherwise still commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from nats.aio.client import Client as NATS

from conectapro import service_table  # noqa: F401  (registers the services)
from contracts.outbound import ReplyQueued, reply_id_from_callback_data, sender_stream_id
from devtools.graph_sandbox import Sandbox, SandboxServer
from devtools.graph_sandbox_statuses import StatusWebhook
from eventstore import ANY_VERSION, PostgresEventStore
from infra.runtime import load
from orchestrator.domain.ids import customer_stream_id
from outbound.sender import outcome_inbox_id
from privacy.setup import privacy_of, protect
from tests.conftest import Infra
from tests.e2e.pipeline import PRIVACY_MASTER_KEY, SECRET, pipeline_settings
from tests.whatsapp_builders import signed, text_message

CUSTOMER = "56933334444"
PHONE_NUMBER_ID = "100000000000001"


@dataclass
class HoldFirstRecord:
    """The sandbox's answer gate: before the first send's 200, take the inbox id of the sender's record of
    it in a transaction left open, so that record waits until the test lets go."""

    store: PostgresEventStore
    reply_id: UUID | None = None
    held: asyncio.Event = field(default_factory=asyncio.Event)
    _conn: Any = None
    _transaction: Any = None

    async def __call__(self, record: dict[str, Any]) -> None:
        if self.reply_id is not None:
            return
        self.reply_id = reply_id_from_callback_data(record["payload"].get("biz_opaque_callback_data"))
        assert self.reply_id is not None, "every send carries its reply id"
        self._conn = await self.store.pool.acquire()
        self._transaction = self._conn.transaction()
        await self._transaction.start()
        await self.store.append("test-hold", ANY_VERSION, [], inbox_id=outcome_inbox_id(self.reply_id),
                                connection=self._conn)  # fmt: skip
        self.held.set()

    async def release(self) -> None:
        await self._transaction.rollback()
        await self.store.pool.release(self._conn)


@dataclass
class Stack:
    store: PostgresEventStore
    sandbox: Sandbox
    gate: HoldFirstRecord
    ingress_url: str
    sender_env: dict[str, str]
    log_dir: Path

    @contextlib.contextmanager
    def sender(self, name: str) -> Iterator[subprocess.Popen[bytes]]:
        with open(self.log_dir / f"{name}.log", "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "conectapro.cli", "run", "sender"], env=self.sender_env, stdout=log, stderr=log
            )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(30)

    def sender_log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text()[-3000:]


@pytest.fixture
async def stack(migrated_database: str, nats_client: NATS, infra: Infra, tmp_path: Path) -> AsyncIterator[Stack]:
    """The ingress and the orchestrator built by their bootstraps, the sandbox posting statuses to the
    ingress; the sender is left to the test, as a child process."""
    settings = pipeline_settings(migrated_database, infra.nats_url)
    ingress_url = f"http://{settings.ingress_host}:{settings.ingress_port}"
    store = await PostgresEventStore.connect(migrated_database, max_size=4)
    protect(store, settings)
    gate = HoldFirstRecord(store)
    sandbox = Sandbox(status_webhook=StatusWebhook(f"{ingress_url}/webhook", SECRET), answer_gate=gate)
    stopping = asyncio.Event()
    async with contextlib.AsyncExitStack() as services:
        services.push_async_callback(store.close)
        tasks = []
        for name in ("ingress", "orchestrator"):
            service = await services.enter_async_context(load(name)(settings))
            tasks.append(asyncio.create_task(service.run(stopping), name=name))
        services.push_async_callback(stop, stopping, tasks)
        server = await services.enter_async_context(SandboxServer(sandbox))
        env = {
            **os.environ,
            "DATABASE_URL": migrated_database,
            "NATS_URL": infra.nats_url,
            "CONECTAPRO_DATA_DIR": str(tmp_path / "data"),
            "PRIVACY_MASTER_KEY": PRIVACY_MASTER_KEY,
            "WHATSAPP_ACCESS_TOKEN": "sandbox-token",
            "WHATSAPP_API_BASE_URL": server.api_base_url,
            "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "SENDER_UNCONFIRMED_RESEND_SECONDS": "60",
        }
        await wait_until_up(ingress_url)
        yield Stack(store, sandbox, gate, ingress_url, env, tmp_path)


async def stop(stopping: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    stopping.set()
    await asyncio.gather(*tasks)  # a service that failed fails the test


async def wait_until_up(url: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(600):
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise AssertionError("the ingress never came up")


async def post_webhook(stack: Stack, payload: dict[str, Any]) -> None:
    body, headers = signed(payload, SECRET)
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{stack.ingress_url}/webhook", content=body, headers=headers)
    assert response.status_code == 200, response.text


_WAITING_ON_A_LOCK = "FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"


async def sender_waits_on_a_lock(store: PostgresEventStore) -> None:
    """Until a backend of this database waits on a lock: the sender's record, behind the held inbox id."""
    for _ in range(600):
        if await store.pool.fetchval(f"SELECT count(*) {_WAITING_ON_A_LOCK}"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the sender never got to recording the send")


async def end_the_dead_senders_statement(store: PostgresEventStore) -> None:
    """A waiting backend does not notice that its client died: once the lock is free it would still commit
    the record. Ending it makes the kill land where a crash just before the record lands."""
    assert await store.pool.fetchval(f"SELECT bool_and(pg_terminate_backend(pid)) {_WAITING_ON_A_LOCK}")


async def sender_facts_when_all_sent(store: PostgresEventStore) -> list[dict[str, Any]]:
    """The sender's facts once every reply queued on the customer's stream has a ``ReplySent``."""
    facts: list[dict[str, Any]] = []
    person = privacy_of(store)
    assert person is not None
    key = await person.people.find(CUSTOMER)
    assert key is not None
    customer_stream = customer_stream_id(key)
    for _ in range(1800):
        queued = [e for e in await store.read_stream(customer_stream) if e.type == ReplyQueued.TYPE]
        facts = [{"type": e.type, **e.data} for e in await store.read_stream(sender_stream_id(customer_stream))]
        if queued and sum(f["type"] == "ReplySent" for f in facts) == len(queued):
            return facts
        await asyncio.sleep(0.05)
    raise AssertionError(f"the sender's facts stopped at {facts}")


async def test_a_sender_killed_between_the_200_and_its_record_sends_exactly_once(stack: Stack) -> None:
    await post_webhook(stack, text_message("wamid.KILL1", CUSTOMER, "hola, necesito un electricista en ñuñoa"))
    with stack.sender("sender-1") as first:
        await asyncio.wait_for(stack.gate.held.wait(), timeout=60)
        await sender_waits_on_a_lock(stack.store)  # Meta's 200 is in, the record is not
        first.send_signal(signal.SIGKILL)
        assert await asyncio.to_thread(first.wait, 30) == -signal.SIGKILL
    await end_the_dead_senders_statement(stack.store)
    await stack.gate.release()
    reply_id = stack.gate.reply_id
    assert reply_id is not None

    with stack.sender("sender-2") as second:
        facts = await sender_facts_when_all_sent(stack.store)
        assert second.poll() is None, stack.sender_log("sender-2")

    tagged = f"reply:{reply_id}"
    copies = [m for m in stack.sandbox.messages(to=CUSTOMER) if m["payload"]["biz_opaque_callback_data"] == tagged]
    assert len(copies) == 1, "WhatsApp got the message twice"
    held = [(f["type"], f.get("settled_by"), f.get("wamid")) for f in facts if f["reply_id"] == str(reply_id)]
    assert held == [
        ("ReplySendAttempted", None, None),
        ("ReplySendSettled", "confirmed_by_status", copies[0]["wamid"]),
        ("ReplySent", None, copies[0]["wamid"]),
    ]
    # Every other reply of that decision went out once too, after it.
    sent_tags = [m["payload"]["biz_opaque_callback_data"] for m in stack.sandbox.messages(to=CUSTOMER)]
    assert sent_tags[0] == tagged
    assert len(sent_tags) == len(set(sent_tags)) == sum(f["type"] == "ReplySent" for f in facts)
