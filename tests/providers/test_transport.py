"""LeanTransport: keep-alive reuse, chunked / sized / close-delimited bodies, stale pooled
connections, cuts and timeouts, against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import threading

import httpx
import pytest

from ccm.providers.transport import LeanTransport
from tests.fakes.upstream import CLOSE, FakeUpstream, cut_stream, hang, reply_text, respond


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=LeanTransport(), timeout=httpx.Timeout(5, connect=2))


async def test_keep_alive_reuses_one_connection() -> None:
    with FakeUpstream("anthropic") as up:
        up.default = reply_text("hi")
        async with client() as c:
            for _ in range(5):
                r = await c.post(f"{up.base_url}/v1/messages", json={"model": "m", "messages": []})
                assert r.json()["content"][0]["text"] == "hi"
        assert up.connections == 1


async def test_chunked_stream_and_sized_bodies() -> None:
    with FakeUpstream("openai") as up:
        up.default = reply_text("one two three")
        async with client() as c:
            async with c.stream(
                "POST",
                f"{up.base_url}/v1/chat/completions",
                json={"model": "m", "stream": True, "messages": []},
            ) as r:
                chunks = [chunk async for chunk in r.aiter_bytes()]
            assert b"[DONE]" in b"".join(chunks)
            r = await c.post(
                f"{up.base_url}/v1/chat/completions", json={"model": "m", "messages": []}
            )
            assert r.json()["choices"][0]["message"]["content"] == "one two three"
        assert up.connections == 1


async def test_close_delimited_body_and_gzip() -> None:
    import gzip

    with FakeUpstream("anthropic") as up:
        raw = [b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nabc", b"def", CLOSE]
        up.script(respond(lambda _r: (None, {}, raw)))
        packed = gzip.compress(b"hello gzip")
        up.script(
            respond(
                lambda _r: (
                    200,
                    {"content-encoding": "gzip", "content-length": str(len(packed))},
                    packed,
                )
            )
        )
        async with client() as c:
            r = await c.post(f"{up.base_url}/v1/messages", content=b"{}")
            assert r.content == b"abcdef"  # the body ends where the server closed
            r = await c.post(f"{up.base_url}/v1/messages", content=b"{}")
            assert r.text == "hello gzip"  # httpx decodes on top of the transport


async def test_cut_stream_raises_and_connection_is_not_reused() -> None:
    with FakeUpstream("anthropic") as up:
        up.script(cut_stream(after_events=2), reply_text("after"))
        async with client() as c:
            with pytest.raises(httpx.RemoteProtocolError):
                async with c.stream(
                    "POST",
                    f"{up.base_url}/v1/messages",
                    json={"model": "m", "stream": True, "messages": []},
                ) as r:
                    async for _ in r.aiter_bytes():
                        pass
            r = await c.post(f"{up.base_url}/v1/messages", json={"model": "m", "messages": []})
            assert r.json()["content"][0]["text"] == "after"
        assert up.connections == 2


async def test_read_timeout_and_connect_error() -> None:
    with FakeUpstream("anthropic") as up:
        up.script(hang(3))
        async with httpx.AsyncClient(transport=LeanTransport(), timeout=httpx.Timeout(0.3)) as c:
            with pytest.raises(httpx.ReadTimeout):
                await c.post(f"{up.base_url}/v1/messages", content=b"{}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with client() as c:
        with pytest.raises(httpx.ConnectError):
            await c.post(f"http://127.0.0.1:{port}/x", content=b"{}")


async def test_stale_pooled_connection_is_retried_on_a_fresh_one() -> None:
    """A server that closes each kept-alive connection right after answering."""
    answers = 0
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]

    def serve() -> None:
        nonlocal answers
        while answers < 2:
            conn, _ = srv.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                answers += 1
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                # keep-alive advertised, but the socket is closed: the pooled connection is stale

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    async with client() as c:
        assert (await c.get(f"http://127.0.0.1:{port}/")).text == "ok"
        await asyncio.sleep(0.1)
        assert (await c.get(f"http://127.0.0.1:{port}/")).text == "ok"
    t.join(5)
    srv.close()
    assert answers == 2


async def test_http_through_a_proxy_in_absolute_form() -> None:
    from tests.fakes.http_proxy import FakeProxy

    with FakeUpstream("anthropic") as up, FakeProxy(require_auth="Basic dXNlcjpwYXNz") as proxy:
        up.default = reply_text("via proxy")
        t = LeanTransport(proxy=f"http://user:pass@127.0.0.1:{proxy.port}")
        async with httpx.AsyncClient(transport=t, timeout=5) as c:
            r = await c.post(f"{up.base_url}/v1/messages", json={"model": "m", "messages": []})
            assert r.json()["content"][0]["text"] == "via proxy"
        assert proxy.requests[0].method == "POST"
        assert proxy.requests[0].target == f"{up.base_url}/v1/messages"
        assert "proxy-authorization" not in up.requests[0].headers  # the proxy's business only


async def test_https_through_a_connect_tunnel(tmp_path) -> None:
    import ssl
    import subprocess

    from tests.fakes.http_proxy import FakeProxy

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecret")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    client_ctx = ssl.create_default_context(cafile=str(cert))
    with FakeProxy() as proxy:
        t = LeanTransport(proxy=proxy.url, ssl_context=client_ctx)
        async with httpx.AsyncClient(transport=t, timeout=5) as c:
            r = await c.get(f"https://localhost:{port}/x")
        assert r.text == "secret"
        assert (proxy.requests[0].method, proxy.requests[0].target) == (
            "CONNECT",
            f"localhost:{port}",
        )
    server.close()


async def test_proxy_refusing_connect_is_a_connect_error() -> None:
    from tests.fakes.http_proxy import FakeProxy

    with FakeProxy(require_auth="Basic x") as proxy:
        async with httpx.AsyncClient(transport=LeanTransport(proxy=proxy.url), timeout=5) as c:
            with pytest.raises(httpx.ConnectError, match="407"):
                await c.get("https://localhost:9/")
