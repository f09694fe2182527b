"""LeanTransport against real third-party servers: Debian's nginx (keep-alive, gzip + chunked
framing, `Connection: close` after keepalive_requests, idle connections the server closed,
204, TLS) and tinyproxy (plain HTTP in absolute form, HTTPS through a CONNECT tunnel, proxy
basic auth). Each test reads nginx's access log, which names the connection every request
came on, so reuse and reconnection are what the server saw, not what the client believes.

.ci/run installs nginx-light and tinyproxy; without them these tests are skipped.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ccm.providers.transport import LeanTransport
from tests.harness import free_port

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
TINYPROXY = shutil.which("tinyproxy")
pytestmark = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (.ci/run installs it)"
)

# an Anthropic-shaped answer, large enough for gzip to send it chunked in several pieces
ANSWER = json.dumps(
    {
        "type": "message",
        "content": [{"type": "text", "text": f"word {i} "} for i in range(3000)],
        "usage": {"input_tokens": 1, "output_tokens": 3000},
    }
).encode()


MARKER = "/ccm-test-marker"  # a request each test starts with (see _fresh_log)


@dataclass
class Nginx:
    port: int
    tls_port: int
    log: Path
    ca: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lines(self) -> list[dict[str, str]]:
        """The access log: one dict per request (connection, requests on it, status, bytes)."""
        out = []
        for line in self.log.read_text().splitlines():
            conn, n, status, sent, uri = line.split(" ", 4)
            if uri == MARKER:  # what came before it belongs to an earlier test
                out = []
                continue
            out.append({"conn": conn, "n": n, "status": status, "sent": sent, "uri": uri})
        return out

    def connections(self) -> list[str]:
        return [x["conn"] for x in self.lines()]


def _cert(tmp: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate for 127.0.0.1 signed by it (openssl)."""
    ca_key, ca, key, csr, cert = (tmp / n for n in ("ca.key", "ca.pem", "s.key", "s.csr", "s.pem"))
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=ccm test CA", "-keyout", str(ca_key), "-out", str(ca))  # fmt: skip
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(key), "-out", str(csr))  # fmt: skip
    ext = tmp / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert))  # fmt: skip
    return ca, cert, key


def _wait_port(port: int, proc: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text() if log.exists() else ''}")
        try:
            with __import__("socket").create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}")


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    tmp = tmp_path_factory.mktemp("nginx")
    root = tmp / "www"
    root.mkdir()
    (root / "answer.json").write_bytes(ANSWER)
    ca, cert, key = _cert(tmp)
    port, tls_port = free_port(), free_port()
    log = tmp / "access.log"
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""daemon off;
master_process off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 64; }}
http {{
    log_format conn '$connection $connection_requests $status $body_bytes_sent $request_uri';
    access_log {log} conn;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ application/json json; }}
    default_type application/octet-stream;
    keepalive_timeout 30s;
    server {{
        listen 127.0.0.1:{port};
        listen 127.0.0.1:{tls_port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {root};
        location = /gzip.json {{
            gzip on; gzip_min_length 0; gzip_types application/json;
            try_files /answer.json =404;
        }}
        location = /two-per-connection.json {{
            keepalive_requests 2;
            try_files /answer.json =404;
        }}
        location = /short-keepalive.json {{
            keepalive_timeout 1s;
            try_files /answer.json =404;
        }}
        location = /empty {{ return 204; }}
        location = /echo {{
            # POST bodies reach nginx's body reader; answer with a fixed body
            client_max_body_size 1m;
            return 200 'posted';
        }}
    }}
}}
"""
    )
    errlog = tmp / "stderr.log"
    with errlog.open("wb") as err:
        proc = subprocess.Popen(
            [NGINX, "-p", str(tmp), "-c", str(conf)],  # type: ignore[list-item]
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        _wait_port(port, proc, "nginx", errlog)
        _wait_port(tls_port, proc, "nginx", errlog)
        yield Nginx(port, tls_port, log, ca)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(autouse=True)
def _fresh_log(request: pytest.FixtureRequest) -> None:
    if "nginx" in request.fixturenames:
        server: Nginx = request.getfixturevalue("nginx")
        server.log.write_text("")  # nginx appends with O_APPEND: truncation is safe
        # nginx logs a request after answering it, so an earlier test's last line can land
        # after the truncation; one nginx process logs in order, so once a marker request is
        # logged, everything before it is too (lines() starts after the marker)
        httpx.get(f"{server.base}{MARKER}", headers={"connection": "close"}, timeout=5)
        deadline = time.monotonic() + 5
        while MARKER not in server.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.01)


def client(**kw: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=LeanTransport(**kw),  # type: ignore[arg-type]
        timeout=httpx.Timeout(5, connect=2),
        trust_env=False,
    )


async def test_keep_alive_one_connection_for_many_requests(nginx: Nginx) -> None:
    async with client() as c:
        for _ in range(5):
            r = await c.get(f"{nginx.base}/answer.json")
            assert r.status_code == 200 and r.content == ANSWER
            assert r.headers["content-length"] == str(len(ANSWER))
    assert len(set(nginx.connections())) == 1
    assert [x["n"] for x in nginx.lines()] == ["1", "2", "3", "4", "5"]


async def test_gzip_chunked_answer_decodes_and_keeps_the_connection(nginx: Nginx) -> None:
    async with client() as c:
        for _ in range(3):
            r = await c.get(f"{nginx.base}/gzip.json", headers={"accept-encoding": "gzip"})
            assert r.headers["transfer-encoding"] == "chunked"
            assert r.headers["content-encoding"] == "gzip"
            assert r.content == ANSWER  # httpx decodes what the transport framed
        # streamed piece by piece: several chunks, the same bytes
        async with c.stream(
            "GET", f"{nginx.base}/gzip.json", headers={"accept-encoding": "gzip"}
        ) as r:
            raw = b"".join([piece async for piece in r.aiter_raw()])
        assert gzip.decompress(raw) == ANSWER
    assert len(set(nginx.connections())) == 1  # chunked framing ended exactly: reused


async def test_connection_close_after_keepalive_requests(nginx: Nginx) -> None:
    """nginx answers the 2nd request on a connection with `Connection: close` and closes it:
    that connection must not go back to the pool; the 3rd request opens a new one."""
    async with client() as c:
        seen = []
        for _ in range(5):
            r = await c.get(f"{nginx.base}/two-per-connection.json")
            assert r.status_code == 200 and r.content == ANSWER
            seen.append(r.headers.get("connection"))
    assert seen == ["keep-alive", "close", "keep-alive", "close", "keep-alive"]
    conns = nginx.connections()
    assert len(set(conns)) == 3 and [x["n"] for x in nginx.lines()] == ["1", "2", "1", "2", "1"]


async def test_idle_connection_the_server_closed_is_replaced(nginx: Nginx) -> None:
    """keepalive_timeout 1s: nginx closes the idle pooled connection; the next request must
    not fail on it (detected at take, or one retry on a fresh connection)."""
    async with client() as c:
        r = await c.get(f"{nginx.base}/short-keepalive.json")
        assert r.status_code == 200
        await asyncio.sleep(1.6)
        for _ in range(2):
            r = await c.get(f"{nginx.base}/short-keepalive.json")
            assert r.status_code == 200 and r.content == ANSWER
    conns = nginx.connections()
    assert len(conns) == 3 and conns[0] != conns[1] and conns[1] == conns[2]


async def test_204_then_reuse_and_post_body(nginx: Nginx) -> None:
    async with client() as c:
        r = await c.get(f"{nginx.base}/empty")
        assert r.status_code == 204 and r.content == b""
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 70_000}]})
        r = await c.post(f"{nginx.base}/echo", content=body)
        assert r.status_code == 200 and r.text == "posted"
        r = await c.get(f"{nginx.base}/answer.json")
        assert r.content == ANSWER
    assert len(set(nginx.connections())) == 1


async def test_tls_with_a_ca_and_refused_without_it(nginx: Nginx) -> None:
    ctx = ssl.create_default_context(cafile=str(nginx.ca))
    url = f"https://127.0.0.1:{nginx.tls_port}/gzip.json"
    async with client(ssl_context=ctx) as c:
        for _ in range(3):
            r = await c.get(url, headers={"accept-encoding": "gzip"})
            assert r.status_code == 200 and r.content == ANSWER
    assert len(set(nginx.connections())) == 1
    async with client() as c:  # the system's CAs do not know this one
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await c.get(url)


@pytest.fixture
def tinyproxy(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    if TINYPROXY is None:
        pytest.skip("tinyproxy is not installed (.ci/run installs it)")
    port = free_port()
    log = tmp_path / "tinyproxy.log"
    conf = tmp_path / "tinyproxy.conf"
    conf.write_text(
        f"""Port {port}
Listen 127.0.0.1
Timeout 30
LogFile "{log}"
LogLevel Connect
MaxClients 20
Allow 127.0.0.1
BasicAuth ccm s3cret
DisableViaHeader Yes
"""
    )
    proc = subprocess.Popen(
        [TINYPROXY, "-d", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_port(port, proc, "tinyproxy", log)
        yield port, log
    finally:
        proc.terminate()
        proc.wait(10)


async def test_http_through_a_real_proxy_with_basic_auth(
    nginx: Nginx, tinyproxy: tuple[int, Path]
) -> None:
    port, _log = tinyproxy
    async with client(proxy=f"http://ccm:s3cret@127.0.0.1:{port}") as c:
        for _ in range(2):
            r = await c.get(f"{nginx.base}/answer.json")
            assert r.status_code == 200 and r.content == ANSWER
    assert len(nginx.lines()) == 2  # the requests reached nginx through the proxy
    async with client(proxy=f"http://ccm:wrong@127.0.0.1:{port}") as c:
        r = await c.get(f"{nginx.base}/answer.json")
        # the proxy's refusal comes back as an answer (tinyproxy 1.11 says 401, others 407)
        assert r.status_code in (401, 407) and b"nginx" not in r.content
    assert len(nginx.lines()) == 2


async def test_https_through_a_connect_tunnel(nginx: Nginx, tinyproxy: tuple[int, Path]) -> None:
    port, log = tinyproxy
    ctx = ssl.create_default_context(cafile=str(nginx.ca))
    url = f"https://127.0.0.1:{nginx.tls_port}/gzip.json"
    async with client(proxy=f"http://ccm:s3cret@127.0.0.1:{port}", ssl_context=ctx) as c:
        for _ in range(3):
            r = await c.get(url, headers={"accept-encoding": "gzip"})
            assert r.status_code == 200 and r.content == ANSWER
    assert len(set(nginx.connections())) == 1  # one tunnel, kept alive through the proxy
    assert "CONNECT" in log.read_text()
    async with client(proxy=f"http://ccm:wrong@127.0.0.1:{port}", ssl_context=ctx) as c:
        with pytest.raises(httpx.ConnectError, match=r"proxy refused CONNECT with 40[17]"):
            await c.get(url)
