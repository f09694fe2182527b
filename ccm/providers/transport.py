"""A lean HTTP/1.1 transport for httpx: asyncio streams, httptools' parser, a LIFO keep-alive
pool per origin.

Why: httpcore's pool checks every pooled connection's socket on each request (a select() per
connection plus anyio overhead); under concurrent load that was the largest cost in a
profile of ccm. This transport does the same job with a constant cost per request. It is
plugged into httpx.AsyncClient, so timeouts, decoding and the API stay httpx's.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import urllib.parse
from collections import deque
from collections.abc import AsyncIterator

import httptools
import httpx

READ_SIZE = 64 * 1024


class _Conn:
    __slots__ = ("key", "last_used", "reader", "writer")

    def __init__(
        self, key: tuple[str, str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.key = key
        self.reader = reader
        self.writer = writer
        self.last_used = time.monotonic()

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()


class _Parsed:
    """httptools callbacks: headers, then body pieces as they come."""

    __slots__ = (
        "body",
        "complete",
        "headers",
        "headers_done",
        "keep_alive",
        "parser",
        "until_close",
    )

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.body: deque[bytes] = deque()
        self.complete = False
        self.keep_alive = False  # read at headers time: httptools forgets it after the message
        self.until_close = False  # no length, not chunked: the body ends when the peer closes
        self.parser: httptools.HttpResponseParser | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.headers_done = True
        if self.parser is not None:
            self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.body.append(bytes(body))

    def on_message_complete(self) -> None:
        self.complete = True


class _Body(httpx.AsyncByteStream):
    def __init__(
        self,
        transport: LeanTransport,
        conn: _Conn,
        parser: httptools.HttpResponseParser,
        parsed: _Parsed,
        read_timeout: float | None,
    ) -> None:
        self.transport = transport
        self.conn = conn
        self.parser = parser
        self.parsed = parsed
        self.read_timeout = read_timeout
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        parsed = self.parsed
        while True:
            while parsed.body:
                yield parsed.body.popleft()
            if parsed.complete:
                return
            data = await _read(self.conn, self.read_timeout)
            if not data:
                # a body without a length ends when the peer closes; anything else is a cut
                if parsed.until_close:
                    parsed.complete = True
                    parsed.keep_alive = False
                    return
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body"
                )
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError as e:
                raise httpx.RemoteProtocolError(f"bad HTTP response: {e}") from None

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.parsed.complete and not self.parsed.body and self.parsed.keep_alive:
            self.transport._release(self.conn)
        else:
            self.conn.close()


async def _read(conn: _Conn, timeout: float | None) -> bytes:
    try:
        if timeout is None:
            return await conn.reader.read(READ_SIZE)
        async with asyncio.timeout(timeout):
            return await conn.reader.read(READ_SIZE)
    except TimeoutError:
        conn.close()
        raise httpx.ReadTimeout("read timed out") from None
    except (ConnectionError, OSError) as e:
        conn.close()
        raise httpx.ReadError(str(e)) from None


class LeanTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        max_idle_per_origin: int = 64,
        idle_expiry: float = 60.0,
        *,
        proxy: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.max_idle = max_idle_per_origin
        self.idle_expiry = idle_expiry
        self._idle: dict[tuple[str, str, int], deque[_Conn]] = {}
        self._ssl: ssl.SSLContext | None = ssl_context
        self._closed = False
        # an HTTP proxy: https goes through a CONNECT tunnel, http in absolute form
        self.proxy = httpx.URL(proxy) if proxy else None
        self._proxy_auth: bytes | None = None
        if self.proxy is not None and self.proxy.userinfo:
            import base64

            self._proxy_auth = b"Basic " + base64.b64encode(
                urllib.parse.unquote_to_bytes(self.proxy.userinfo.decode("ascii"))
            )

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _release(self, conn: _Conn) -> None:
        if self._closed or conn.reader.at_eof() or conn.writer.is_closing():
            conn.close()
            return
        conn.last_used = time.monotonic()
        pool = self._idle.setdefault(conn.key, deque())
        pool.append(conn)
        while len(pool) > self.max_idle:
            pool.popleft().close()

    def _take(self, key: tuple[str, str, int]) -> _Conn | None:
        pool = self._idle.get(key)
        now = time.monotonic()
        while pool:
            conn = pool.pop()  # LIFO: the warmest connection
            if (
                now - conn.last_used < self.idle_expiry
                and not conn.reader.at_eof()
                and not conn.writer.is_closing()
            ):
                return conn
            conn.close()
        return None

    async def _open(self, key: tuple[str, str, int], connect_timeout: float | None) -> _Conn:
        scheme, host, port = key
        tls = self._ssl_context() if scheme == "https" else None
        proxy = self.proxy
        try:
            async with asyncio.timeout(connect_timeout):
                if proxy is None:
                    reader, writer = await asyncio.open_connection(
                        host, port, ssl=tls, limit=READ_SIZE * 4
                    )
                else:
                    reader, writer = await asyncio.open_connection(
                        proxy.host, proxy.port or 80, limit=READ_SIZE * 4
                    )
                    if tls is not None:
                        await self._tunnel(reader, writer, host, port)
                        await writer.start_tls(tls, server_hostname=host)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connect to {host}:{port} timed out") from None
        except (OSError, ssl.SSLError) as e:
            via = f" via proxy {proxy.host}:{proxy.port}" if proxy is not None else ""
            raise httpx.ConnectError(f"connect to {host}:{port}{via} failed: {e}") from None
        return _Conn(key, reader, writer)

    async def _tunnel(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int
    ) -> None:
        """CONNECT host:port through the proxy; OSError unless it answers 2xx."""
        head = f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n".encode()
        if self._proxy_auth:
            head += b"Proxy-Authorization: " + self._proxy_auth + b"\r\n"
        writer.write(head + b"\r\n")
        await writer.drain()
        try:
            answer = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
            raise OSError(f"proxy closed the CONNECT: {e}") from None
        status = answer.split(b" ", 2)[1] if answer.count(b" ") >= 1 else b"?"
        if not status.startswith(b"2"):
            writer.close()
            raise OSError(f"proxy refused CONNECT with {status.decode('latin-1', 'replace')}")

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        port = url.port or (443 if scheme == "https" else 80)
        key = (scheme, url.host, port)
        timeouts = request.extensions.get("timeout", {})
        body = await request.aread()
        target = url.raw_path.decode("ascii")
        if self.proxy is not None and scheme == "http":
            target = f"http://{url.host}:{port}{target}"  # absolute form, for the proxy
        head = [f"{request.method} {target} HTTP/1.1\r\n".encode()]
        for name, value in request.headers.raw:
            head.append(name + b": " + value + b"\r\n")
        if self._proxy_auth and scheme == "http":
            head.append(b"Proxy-Authorization: " + self._proxy_auth + b"\r\n")
        head.append(b"\r\n")
        payload = b"".join(head) + body

        for attempt in range(2):
            conn = self._take(key) if attempt == 0 else None
            reused = conn is not None
            if conn is None:
                conn = await self._open(key, timeouts.get("connect"))
            try:
                conn.writer.write(payload)
                await conn.writer.drain()
            except (ConnectionError, OSError) as e:
                conn.close()
                if reused:
                    continue  # a pooled connection the server had closed: once more, fresh
                raise httpx.WriteError(str(e)) from None
            parsed = _Parsed()
            parser = httptools.HttpResponseParser(parsed)
            parsed.parser = parser
            got_any = False
            while not parsed.headers_done:
                data = await _read(conn, timeouts.get("read"))
                if not data:
                    conn.close()
                    if reused and not got_any:
                        break  # stale keep-alive connection: retry on a new one
                    raise httpx.RemoteProtocolError(
                        "Server disconnected without sending a response."
                    )
                got_any = True
                try:
                    parser.feed_data(data)
                except httptools.HttpParserError as e:
                    conn.close()
                    raise httpx.RemoteProtocolError(f"bad HTTP response: {e}") from None
            else:
                names = {n.lower() for n, _ in parsed.headers}
                status = parser.get_status_code()
                parsed.until_close = (
                    b"content-length" not in names
                    and b"transfer-encoding" not in names
                    and status >= 200
                    and status not in (204, 304)
                    and request.method != "HEAD"
                )
                if not parsed.until_close and not parsed.complete and status in (204, 304):
                    parsed.complete = True
                return httpx.Response(
                    status,
                    headers=parsed.headers,
                    stream=_Body(self, conn, parser, parsed, timeouts.get("read")),
                    extensions={"http_version": b"HTTP/1.1"},
                    request=request,
                )
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    async def aclose(self) -> None:
        self._closed = True
        for pool in self._idle.values():
            while pool:
                pool.pop().close()
        self._idle.clear()
