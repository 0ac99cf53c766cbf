"""A duplicate storm through the ingress, and what must hold once it has passed.

Several customers each send a few messages, one round at a time; every webhook is posted several times
at once (Meta retries), and a refused one (503 while the broker is unreachable) is posted again until it
is accepted, as Meta does. Afterwards every message must have been decided exactly once, each customer's
messages in the order they were sent, and every stream's versions without gaps or repeats.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from tests.whatsapp_builders import batch, signed

TEXTS = ("hola", "necesito un gasfiter en ñuñoa, gotea la llave", "hoy", "irarrázaval 1234")


@dataclass(frozen=True)
class Storm:
    #: Prefix of every wamid of this storm (so counts ignore anything else in the database).
    tag: str
    customers: int
    copies: int
    #: Customers per webhook: a round is ``customers / per_webhook`` webhooks, each posted ``copies`` times.
    per_webhook: int = 5

    @property
    def rounds(self) -> int:
        return len(TEXTS)

    @property
    def total(self) -> int:
        return self.customers * self.rounds

    def phone(self, customer: int) -> str:
        return f"56970{customer:06d}"

    def wamid(self, customer: int, round_: int) -> str:
        return f"wamid.{self.tag}{customer:04d}.{round_}"

    def sent_in_order(self) -> list[list[str]]:
        """Each customer's wamids, in the order they were sent."""
        return [[self.wamid(c, r) for r in range(self.rounds)] for c in range(self.customers)]

    def webhooks(self, round_: int) -> list[dict[str, object]]:
        groups = range(0, self.customers, self.per_webhook)
        return [
            batch([(self.wamid(c, round_), self.phone(c), TEXTS[round_]) for c in range(g, g + self.per_webhook)])
            for g in groups
        ]


async def post_until_accepted(http: httpx.AsyncClient, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """Posts until the ingress answers 200; returns how many attempts were refused (503 or no answer)."""
    deadline = asyncio.get_running_loop().time() + timeout
    refused = 0
    while True:
        try:
            response = await http.post("/webhook", content=body, headers=headers)
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 200:
            return refused
        assert response is None or response.status_code == 503, response.text
        refused += 1
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the ingress refused a webhook for {timeout} s")
        await asyncio.sleep(0.1)  # Meta's retry, compressed


async def blow(http: httpx.AsyncClient, storm: Storm, secret: str, timeout: float = 60.0) -> int:
    """Sends the whole storm; returns how many posts the ingress refused on the way."""
    refused = 0
    for round_ in range(storm.rounds):
        posts: list[Coroutine[Any, Any, int]] = []
        for payload in storm.webhooks(round_):
            body, headers = signed(payload, secret)
            posts.extend(post_until_accepted(http, body, headers, timeout) for _ in range(storm.copies))
        refused += sum(await asyncio.gather(*posts))
    return refused


async def handled(dsn: str, storm: Storm) -> int:
    """How many of the storm's messages the orchestrator has recorded in its inbox."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM inbox WHERE message_id LIKE $1", f"wamid.{storm.tag}%"))
    finally:
        await conn.close()


async def wait_until_handled(dsn: str, storm: Storm, at_least: int, timeout: float) -> int:
    deadline = asyncio.get_running_loop().time() + timeout
    while (count := await handled(dsn, storm)) < at_least:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{count} of {storm.total} messages handled after {timeout} s; waited for {at_least}")
        await asyncio.sleep(0.05)
    return count


@dataclass(frozen=True)
class Outcome:
    decided: int
    duplicated: int
    lost: int
    #: Every customer's messages were decided in the order the customer sent them.
    in_order: bool


async def outcome(dsn: str, storm: Storm) -> Outcome:
    """What was decided, decided twice, never decided, and in which order (checks every stream's versions)."""
    conn = await asyncpg.connect(dsn)
    try:
        received = await conn.fetch(
            "SELECT stream_id, data->>'wamid' AS wamid FROM events"
            " WHERE type = 'MessageReceived' AND data->>'wamid' LIKE $1 ORDER BY stream_id, stream_version",
            f"wamid.{storm.tag}%",
        )
        versions = await conn.fetch(
            "SELECT stream_id, array_agg(stream_version ORDER BY stream_version) AS v FROM events GROUP BY stream_id"
        )
    finally:
        await conn.close()
    for row in versions:
        assert list(row["v"]) == list(range(1, len(row["v"]) + 1)), f"{row['stream_id']} has gaps or repeats"
    counts = Counter(row["wamid"] for row in received)
    by_stream: dict[str, list[str]] = defaultdict(list)
    for row in received:
        by_stream[row["stream_id"]].append(row["wamid"])
    sent = {wamid for customer in storm.sent_in_order() for wamid in customer}
    return Outcome(
        decided=len(counts),
        duplicated=sum(count - 1 for count in counts.values()),
        lost=len(sent - set(counts)),
        in_order=sorted(by_stream.values()) == sorted(storm.sent_in_order()),
    )
