"""The services `conectapro run` can start, by name: one table, each entry a coroutine factory.

A service is ``async def serve(runtime: Runtime) -> None`` that runs until ``runtime.stopping`` is set.
Services are imported lazily so that starting one does not import the others' dependencies.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from infra.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    database_url: str
    nats_url: str
    stopping: asyncio.Event = field(default_factory=asyncio.Event)


Service = Callable[[Runtime], Coroutine[Any, Any, None]]

# name → "module:function". Order matters: it is the start order of `conectapro run`.
SERVICES: dict[str, str] = {}


def register(name: str, target: str) -> None:
    SERVICES[name] = target


def load(name: str) -> Service:
    module_name, _, function_name = SERVICES[name].partition(":")
    module: Any = importlib.import_module(module_name)
    service: Service = getattr(module, function_name)
    return service
