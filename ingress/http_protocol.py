"""uvicorn's HTTP protocol, writing each response in one send instead of two.

uvicorn writes a response's status line and headers on ``http.response.start`` and its body on
``http.response.body``, each straight to the socket: two sends per webhook answer, the first of which wakes
the client before the body is there. Here the connection's transport collects what is written while the
current callback runs and sends it at once right after (``loop.call_soon``): one send per answer, nothing
delayed past the loop's next step, and the order of writes kept (closing sends what is collected first).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _CollectingTransport:
    """A transport that sends what is written during one step of the loop in one write."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._collected: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._collected:
            self._loop.call_soon(self._send)
        self._collected.append(bytes(data))

    def close(self) -> None:
        self._send()
        self._transport.close()

    def _send(self) -> None:
        if not self._collected:
            return
        data = self._collected[0] if len(self._collected) == 1 else b"".join(self._collected)
        self._collected.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        # Everything else (flow control, addresses, is_closing, abort) is the connection's own.
        return getattr(self._transport, name)


class OneSendPerResponse(HttpToolsProtocol):
    """uvicorn's httptools protocol over a :class:`_CollectingTransport` (``uvicorn.Config(http=...)``)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(cast(asyncio.Transport, _CollectingTransport(cast(asyncio.Transport, transport))))
