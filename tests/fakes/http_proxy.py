"""A small HTTP proxy on 127.0.0.1 for tests: CONNECT tunnels and absolute-form forwarding,
recording what it was asked (method, target, Proxy-Authorization)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class ProxyRequest:
    method: str
    target: str
    auth: str | None


@dataclass
class FakeProxy:
    require_auth: str | None = None  # e.g. "Basic dXNlcjpwYXNz"
    requests: list[ProxyRequest] = field(default_factory=list)
    port: int = 0

    def __enter__(self) -> FakeProxy:
        self._loop = asyncio.new_event_loop()
        started = threading.Event()

        async def main() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]
            started.set()
            async with self._server:
                await self._server.serve_forever()

        self._thread = threading.Thread(
            target=lambda: self._loop.run_until_complete(self._main(main)), daemon=True
        )
        self._thread.start()
        started.wait(5)
        return self

    async def _main(self, main) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await main()
        # let the connections' tasks finish their cancellation before the loop goes away
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in rest:
            t.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    def __exit__(self, *exc: object) -> None:
        def stop() -> None:
            self._server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()

        self._loop.call_soon_threadsafe(stop)
        self._thread.join(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        auth = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in lines[1:]
                if ln.lower().startswith("proxy-authorization:")
            ),
            None,
        )
        self.requests.append(ProxyRequest(method, target, auth))
        if self.require_auth and auth != self.require_auth:
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await self._pipe_both(reader, writer, up_reader, up_writer)
            return
        # absolute form: forward to the origin in origin form, then pipe the rest
        u = urlsplit(target)
        up_reader, up_writer = await asyncio.open_connection(u.hostname, u.port or 80)
        rest = "\r\n".join(
            ln for ln in lines[1:] if not ln.lower().startswith("proxy-authorization:")
        )
        path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        up_writer.write(f"{method} {path} HTTP/1.1\r\n{rest}".encode("latin-1"))
        await self._pipe_both(reader, writer, up_reader, up_writer)

    async def _pipe_both(self, r1, w1, r2, w2) -> None:
        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    w.close()

        await asyncio.gather(pipe(r1, w2), pipe(r2, w1))
