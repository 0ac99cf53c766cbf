"""Delivery statuses look a recipient's person key up once a while, not for each status."""

from __future__ import annotations

import pytest

from orchestrator.identity import RecentPeople
from privacy.people import InMemoryPeople

pytestmark = pytest.mark.unit


class CountingPeople(InMemoryPeople):
    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0

    async def key_for(self, phone: str) -> str:
        self.lookups += 1
        return await super().key_for(phone)


async def test_a_recipient_is_looked_up_once_within_the_ttl_and_again_after_it() -> None:
    now = [0.0]
    people = CountingPeople()
    recent = RecentPeople(people, ttl=30.0, clock=lambda: now[0])

    first = await recent.key_for("56911111111")
    assert [await recent.key_for("56911111111") for _ in range(3)] == [first] * 3
    assert people.lookups == 1

    now[0] = 30.0
    people.forget("56911111111")  # forgotten elsewhere: once the ttl ran out, the new person is found
    assert await recent.key_for("56911111111") != first
    assert people.lookups == 2


async def test_the_oldest_looked_up_goes_first_when_full() -> None:
    people = CountingPeople()
    recent = RecentPeople(people, max_size=2, clock=lambda: 0.0)
    for phone in ("56900000001", "56900000002", "56900000003"):
        await recent.key_for(phone)
    await recent.key_for("56900000003")
    await recent.key_for("56900000002")
    assert people.lookups == 3
    await recent.key_for("56900000001")
    assert people.lookups == 4


async def test_a_key_the_message_looked_up_serves_the_statuses_that_follow() -> None:
    people = CountingPeople()
    recent = RecentPeople(people, clock=lambda: 0.0)
    recent.remember("56911111111", "p0123")
    assert await recent.key_for("56911111111") == "p0123"
    assert people.lookups == 0
