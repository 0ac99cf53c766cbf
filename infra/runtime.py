"""The services `conectapro run` can start, by name, and the shape every service's bootstrap has.

Each service has one builder, ``build(settings, *, <adapters>=<production default>)``: an async context
manager that opens what the service needs (pools, broker connection, servers), yields the service, and
closes what it opened on exit. Adapters handed in (a store, a NATS connection, a clock) are the caller's
to close. `conectapro run`, the end-to-end tests and the benchmarks all build services this way. Builders
are imported lazily so that starting one service does not import the others' dependencies.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, Protocol

from nats.aio.client import Client as NATS

from eventstore import PostgresEventStore
from infra.jetstream import connect
from infra.settings import Settings
from infra.wakeups import wake_over_nats


class Service(Protocol):
    async def run(self, stopping: asyncio.Event) -> None:
        """Serve until ``stopping`` is set (or fail: an exception ends the service)."""
        ...


Builder = Callable[[Settings], AbstractAsyncContextManager[Service]]

# name → "module:builder". Order matters: it is the start order of `conectapro run`.
SERVICES: dict[str, str] = {}


def register(name: str, target: str) -> None:
    SERVICES[name] = target


def load(name: str) -> Builder:
    module_name, _, function_name = SERVICES[name].partition(":")
    module: Any = importlib.import_module(module_name)
    builder: Builder = getattr(module, function_name)
    return builder


async def serve(builder: Builder, settings: Settings, stopping: asyncio.Event) -> None:
    """Build the service, run it until ``stopping`` is set, close what the builder opened."""
    async with builder(settings) as service:
        await service.run(stopping)


async def event_store(
    stack: AsyncExitStack, settings: Settings, given: PostgresEventStore | None, *, nats: NATS | None = None,
    **pool: Any,
) -> PostgresEventStore:
    """``given`` (its owner closes it and says how it wakes followers), else a pool of the service's own,
    closed with ``stack``; with ``nats`` (opened before), its followers are woken over NATS, not NOTIFY."""
    if given is not None:
        return given
    store = await PostgresEventStore.connect(settings.required_database_url, **pool)
    stack.push_async_callback(store.close)
    if nats is not None:
        await wake_over_nats(stack, store, nats)
    return store


async def nats_connection(
    stack: AsyncExitStack, settings: Settings, given: NATS | None, *, name: str, drain: bool = True
) -> NATS:
    """``given`` (its owner closes it), else a connection of the service's own, closed with ``stack``.

    ``drain=False`` closes instead: nats-py's drain waits forever on pull subscriptions, whose acks are
    all sent by the time a consumer stops.
    """
    if given is not None:
        return given
    nc = await connect(settings.required_nats_url, name)
    stack.push_async_callback(nc.drain if drain else nc.close)
    return nc
