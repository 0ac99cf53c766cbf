"""The event store contract on the in-memory store (no I/O)."""

from __future__ import annotations

import pytest

from eventstore import InMemoryEventStore
from tests.eventstore_contract import EventStoreContract


class TestInMemoryEventStore(EventStoreContract):
    @pytest.fixture
    def store(self) -> InMemoryEventStore:
        return InMemoryEventStore()
