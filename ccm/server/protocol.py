"""uvicorn's httptools protocol with one write where uvicorn makes two.

uvicorn writes a response's head when the app sends `http.response.start` and its body when
the app sends `http.response.body`: two send() system calls for every JSON answer, and for a
stream's head and first events. On loopback a send() also runs the receiver's side of TCP,
which made it ccm's largest single cost per request in a profile (about a third of the time
on the event loop for a small answer). The transport handed to uvicorn collects what is
written during one step of the event loop and sends it as one piece at the end of that step:
the same bytes, in the same order, within the same loop iteration.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _OneWritePerStep:
    """An asyncio transport whose writes are joined until the running loop step ends; every
    other attribute is the real transport's."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = []
        if not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = []
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_OneWritePerStep(transport, self.loop))  # type: ignore[arg-type]
