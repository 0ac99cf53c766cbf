"""What the store does to ``data`` on its way in and out: nothing, unless a codec is given.

The PostgreSQL store applies its codec at its boundary: :meth:`EventCodec.seal` before an append,
:meth:`EventCodec.open` after every read that returns ``data``. The privacy package's codec seals personal
fields with their person's key (``privacy/codec.py``); the store knows nothing of keys or of which fields.
A codec sees ``(stream_id, event_id, type, data)`` and returns the data to store or to hand out; the
``prepare`` calls let it fetch what it needs for a whole batch in one go before the synchronous per-event
work; a read of given streams may instead fetch it in its own statement (:meth:`EventCodec.along`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class Along(Protocol):
    """What a codec fetches with a read's rows, in the read's own statement (one round trip instead of two):
    ``sql``, a scalar SQL expression (``{}`` where its one parameter goes) selected as the rows' last column;
    ``arg``, that parameter. :meth:`take` gets its value (read with the rows, in their snapshot) before they
    are opened."""

    @property
    def sql(self) -> str: ...

    @property
    def arg(self) -> object: ...

    def take(self, value: Any) -> None: ...


class EventCodec(Protocol):
    async def prepare(self, stream_ids: Iterable[str]) -> None:
        """Called before a batch touching these streams is sealed or opened."""
        ...

    def along(self, stream_ids: Iterable[str]) -> Along | None:
        """What a read of these streams should fetch with its rows instead of ``prepare`` (None: nothing)."""
        ...

    def seal(self, stream_id: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        """The data to store for an event about to be appended."""
        ...

    def open(self, stream_id: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        """The data to hand out for a stored event."""
        ...

    def is_sealed(self, data: dict[str, Any]) -> bool:
        """Whether stored data needs :meth:`open` at all (a cheap test readers use to skip the rest)."""
        ...

    def is_sealed_text(self, data: str) -> bool:
        """:meth:`is_sealed` for data still as its JSON text (a bulk reader's compact rows)."""
        ...
