"""Fixtures of the integration tests: databases with the read models, and a seeded store to copy per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from conectapro.migrations import migrate
from eventstore import PostgresEventStore
from tests.conftest import Infra, admin, with_database
from tests.integration.projections_support import project, synthetic_conversations
from tests.openai_stub import OpenAIStub, OpenAIStubServer


@pytest.fixture
async def read_models_database(migrated_database: str) -> str:
    """A fresh database with the event store's and the read models' migrations."""
    await migrate(migrated_database)
    return migrated_database


@pytest.fixture
async def store(read_models_database: str) -> AsyncIterator[PostgresEventStore]:
    store = await PostgresEventStore.connect(read_models_database, min_size=2, max_size=16)
    yield store
    await store.close()


#: How many events the seeded database holds (a few dozen conversations, six technicians).
SEEDED_EVENTS = 1500


@pytest.fixture(scope="module")
async def seeded_template(infra: Infra) -> AsyncIterator[str]:
    """A database seeded once per module with synthetic conversations, projected: a template to copy."""
    name = f"tpl_{uuid.uuid4().hex[:12]}"
    await admin(infra, f'CREATE DATABASE "{name}"')
    try:
        await migrate(with_database(infra.pg_dsn, name))
        store = await PostgresEventStore.connect(with_database(infra.pg_dsn, name), min_size=2, max_size=16)
        try:
            await synthetic_conversations(store, SEEDED_EVENTS)
            await project(store)
        finally:
            await store.close()
        yield name
    finally:
        await admin(infra, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def seeded_database(infra: Infra, seeded_template: str) -> AsyncIterator[str]:
    """A fresh copy of the seeded database (a copy per test: tests may change it)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    await admin(infra, f'CREATE DATABASE "{name}" TEMPLATE "{seeded_template}"')
    try:
        yield with_database(infra.pg_dsn, name)
    finally:
        await admin(infra, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def seeded_store(seeded_database: str) -> AsyncIterator[PostgresEventStore]:
    store = await PostgresEventStore.connect(seeded_database, min_size=2, max_size=16)
    yield store
    await store.close()


@pytest.fixture(scope="module")
async def openai_server() -> AsyncIterator[OpenAIStubServer]:
    """A local OpenAI-compatible server (see ``tests/openai_stub.py``), one per test module."""
    async with OpenAIStubServer() as server:
        yield server


@pytest.fixture
def stub(openai_server: OpenAIStubServer) -> Iterator[OpenAIStub]:
    """The server's script, empty at the start of each test."""
    openai_server.stub.reset()
    yield openai_server.stub
    openai_server.stub.reset()
