"""The sender against real PostgreSQL and the sandbox on a real port: where it records, and exactly one send.

A store "as a killed sender left it" is written here directly: the queued reply and its recorded attempt,
with no outcome. The test in ``tests/e2e/test_sender_killed_mid_send.py`` gets there by SIGKILL instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest

from contracts.events import Event
from contracts.outbound import (
    DeliveryStatus,
    RecipientRole,
    ReplyDeliveryUpdated,
    ReplyQueued,
    ReplySendAttempted,
    ReplySent,
    TextMessage,
    sender_stream_id,
)
from contracts.personal import SUPPRESSED
from devtools.graph_sandbox import Sandbox, SandboxServer
from eventstore import ANY_VERSION, Checkpoint, PostgresEventStore
from infra.clock import utc_now
from orchestrator.decision_path import to_new_events
from orchestrator.domain.ids import event_ids_for
from orchestrator.identity import deliveries_stream_id
from outbound.sender import ReplySender, attempt_inbox_id
from outbound.whatsapp_client import RetryPolicy, WhatsAppClient
from tests.unit.audit_support import customer_key

CUSTOMER = "56911112222"
STREAM = "customer-csendertest"
SENDER_STREAM = sender_stream_id(STREAM)


@pytest.fixture
async def store(migrated_database: str) -> AsyncIterator[PostgresEventStore]:
    store = await PostgresEventStore.connect(migrated_database, max_size=4)
    yield store
    await store.close()


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(Sandbox()) as server:
        yield server


@pytest.fixture
async def client(sandbox: SandboxServer) -> AsyncIterator[WhatsAppClient]:
    retry = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
    async with WhatsAppClient(sandbox.api_base_url, "token", "100000000000001", retry=retry) as client:
        yield client


async def record(store: PostgresEventStore, stream_id: str, events: Sequence[Event], inbox_id: str) -> None:
    new_events = to_new_events(events, cause=inbox_id, now=utc_now(), ids=event_ids_for(inbox_id))
    await store.append(stream_id, ANY_VERSION, new_events, inbox_id=inbox_id)


async def queue_reply(store: PostgresEventStore, body: str = "¿Qué tan urgente es?") -> ReplyQueued:
    reply = ReplyQueued(reply_id=uuid4(), to=CUSTOMER, recipient=RecipientRole.CUSTOMER, purpose="ask_urgency",
                        message=TextMessage(body=body), in_reply_to="wamid.IN1")  # fmt: skip
    await record(store, STREAM, [reply], inbox_id=f"wamid.IN-{reply.reply_id}")
    return reply


async def attempted_by_a_killed_sender(store: PostgresEventStore, reply_id: UUID, at: datetime) -> None:
    """What a sender killed between Meta's 200 and its record leaves behind: an attempt, no outcome."""
    attempt = ReplySendAttempted(reply_id=reply_id, attempt=1, attempted_at=at)
    await record(store, SENDER_STREAM, [attempt], inbox_id=attempt_inbox_id(reply_id, 1))


async def send_everything(store: PostgresEventStore, client: WhatsAppClient, window: float = 60.0) -> None:
    sender = ReplySender(store, client, clock=utc_now, unconfirmed_resend_seconds=window)
    await sender.send_batch(await store.read_all(Checkpoint.START))


async def sender_facts(store: PostgresEventStore) -> list[tuple[str, dict[str, object]]]:
    return [(e.type, e.data) for e in await store.read_stream(SENDER_STREAM)]


async def test_a_send_is_tagged_with_its_reply_and_recorded_on_the_senders_own_stream(
    store: PostgresEventStore, client: WhatsAppClient, sandbox: SandboxServer
) -> None:
    reply = await queue_reply(store)

    await send_everything(store, client)

    [message] = sandbox.sandbox.messages(to=CUSTOMER)
    assert message["payload"]["biz_opaque_callback_data"] == f"reply:{reply.reply_id}"
    assert [e.type for e in await store.read_stream(STREAM)] == ["ReplyQueued"]  # the decision stream: untouched
    facts = await sender_facts(store)
    assert [t for t, _ in facts] == ["ReplySendAttempted", "ReplySent"]
    assert facts[1][1]["wamid"] == message["wamid"]

    await send_everything(store, client)  # read again (a restart before the checkpoint was saved)
    assert len(sandbox.sandbox.messages(to=CUSTOMER)) == 1
    assert len(await sender_facts(store)) == 2


async def test_a_reply_to_someone_forgotten_before_it_was_sent_fails_without_a_call(
    store: PostgresEventStore, client: WhatsAppClient, sandbox: SandboxServer
) -> None:
    reply = ReplyQueued(reply_id=uuid4(), to=SUPPRESSED, recipient=RecipientRole.CUSTOMER, purpose="erasure_goodbye",
                        message=TextMessage(body=SUPPRESSED), in_reply_to="wamid.IN1")  # fmt: skip
    await record(store, STREAM, [reply], inbox_id="wamid.IN-forgotten")

    await send_everything(store, client)

    assert sandbox.sandbox.messages() == []
    [(attempted, _), (failed, data)] = await sender_facts(store)
    assert attempted == "ReplySendAttempted"
    assert failed == "ReplyFailed" and data["permanent"] is True and "erased" in str(data["reason"])


async def test_a_reply_recorded_on_the_decision_stream_by_an_older_sender_is_not_sent_again(
    store: PostgresEventStore, client: WhatsAppClient, sandbox: SandboxServer
) -> None:
    # A store written before the sender had a stream of its own: the outcome sits on the customer's stream
    # under the inbox id that sender used.
    reply = await queue_reply(store)
    sent = ReplySent(reply_id=reply.reply_id, wamid="wamid.OLD", sent_at=utc_now())
    await record(store, STREAM, [sent], inbox_id=f"reply:{reply.reply_id}")

    await send_everything(store, client)

    assert sandbox.sandbox.messages(to=CUSTOMER) == []
    assert await sender_facts(store) == []


async def test_an_unconfirmed_attempt_named_by_a_status_is_settled_as_sent_without_sending(
    store: PostgresEventStore, client: WhatsAppClient, sandbox: SandboxServer
) -> None:
    reply = await queue_reply(store)
    await attempted_by_a_killed_sender(store, reply.reply_id, at=utc_now())
    status = ReplyDeliveryUpdated(wamid="wamid.OUT1", reply_id=reply.reply_id, status=DeliveryStatus.SENT,
                                  occurred_at=utc_now())  # fmt: skip
    await record(store, deliveries_stream_id(customer_key(CUSTOMER)), [status], inbox_id="wamid.OUT1:sent")

    await send_everything(store, client)

    assert sandbox.sandbox.messages(to=CUSTOMER) == []
    facts = await sender_facts(store)
    assert [t for t, _ in facts] == ["ReplySendAttempted", "ReplySendSettled", "ReplySent"]
    assert facts[1][1]["settled_by"] == "confirmed_by_status"
    assert facts[2][1]["wamid"] == "wamid.OUT1"


class LookingStore(PostgresEventStore):
    """The store, telling when the sender has looked ahead for a status and found none (a sentinel)."""

    def __init__(self, store: PostgresEventStore) -> None:
        super().__init__(store.pool)
        self.looked = asyncio.Event()

    async def has_pending(self, after: Checkpoint) -> bool:
        self.looked.set()
        return await super().has_pending(after)


async def test_a_status_arriving_while_the_sender_waits_settles_the_reply(
    store: PostgresEventStore, client: WhatsAppClient, sandbox: SandboxServer
) -> None:
    reply = await queue_reply(store)
    await attempted_by_a_killed_sender(store, reply.reply_id, at=utc_now())
    looking = LookingStore(store)
    sending = asyncio.create_task(send_everything(looking, client, window=120.0))
    await asyncio.wait_for(looking.looked.wait(), timeout=30)  # it looked, found nothing, and waits

    status = ReplyDeliveryUpdated(wamid="wamid.LATE", reply_id=reply.reply_id, status=DeliveryStatus.DELIVERED,
                                  occurred_at=utc_now())  # fmt: skip
    await record(store, deliveries_stream_id(customer_key(CUSTOMER)), [status], inbox_id="wamid.LATE:delivered")
    await asyncio.wait_for(sending, timeout=30)  # far sooner than the window

    assert sandbox.sandbox.messages(to=CUSTOMER) == []
    facts = await sender_facts(store)
    assert [t for t, _ in facts] == ["ReplySendAttempted", "ReplySendSettled", "ReplySent"]
    assert facts[2][1]["wamid"] == "wamid.LATE"


async def test_an_unconfirmed_attempt_with_no_status_in_the_window_is_sent_again_once(
    store: PostgresEventStore, client: WhatsAppClient, sandbox: SandboxServer
) -> None:
    reply = await queue_reply(store)
    attempted_at = utc_now()
    await attempted_by_a_killed_sender(store, reply.reply_id, at=attempted_at)
    other = await queue_reply(store, body="otra respuesta")  # queued behind it, to the same person

    await send_everything(store, client, window=1.0)

    assert utc_now() >= attempted_at + timedelta(seconds=1.0)
    messages = sandbox.sandbox.messages(to=CUSTOMER)
    assert [m["payload"]["biz_opaque_callback_data"] for m in messages] == [
        f"reply:{reply.reply_id}",
        f"reply:{other.reply_id}",  # after it: one person's replies stay in order
    ]
    facts = [(t, d) for t, d in await sender_facts(store) if d["reply_id"] == str(reply.reply_id)]
    assert [(t, d.get("attempt"), d.get("settled_by")) for t, d in facts] == [
        ("ReplySendAttempted", 1, None),
        ("ReplySendSettled", 1, "resent"),
        ("ReplySendAttempted", 2, None),
        ("ReplySent", None, None),
    ]

    await send_everything(store, client, window=1.0)  # and a restart after that sends nothing more
    assert len(sandbox.sandbox.messages(to=CUSTOMER)) == 2
