"""Fixtures of the end-to-end tests: the whole pipeline, running against the session's servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NATS

from tests.conftest import Infra
from tests.e2e.pipeline import Pipeline, running_pipeline


@pytest.fixture
async def pipeline(migrated_database: str, nats_client: NATS, infra: Infra) -> AsyncIterator[Pipeline]:
    """Every service, built as `conectapro run` builds them, on a fresh database and empty streams."""
    async with running_pipeline(migrated_database, nats_client, infra.nats_url) as pipeline:
        yield pipeline
