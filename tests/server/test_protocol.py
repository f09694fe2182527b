"""The transport ccm hands uvicorn joins the writes of one event-loop step: a response's head
and body leave in one send() (ccm/server/protocol.py)."""

from __future__ import annotations

import asyncio
import socket

import httpx

from ccm.server.protocol import _OneWritePerStep
from tests.harness import running_ccm
from tests.proxy_setup import write_config


class Recording(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        assert not self.closed
        self.sent.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


async def test_writes_of_one_step_leave_as_one_in_order() -> None:
    real = Recording()
    t = _OneWritePerStep(real, asyncio.get_running_loop())
    t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    t.write(b"")
    t.write(b"{}")
    assert real.sent == []  # not before the step ends
    await asyncio.sleep(0)
    assert real.sent == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    t.write(b"a")  # a later step: its own send
    await asyncio.sleep(0)
    t.write(b"b")
    await asyncio.sleep(0)
    assert real.sent[1:] == [b"a", b"b"]
    assert t.get_extra_info("peername") == ("127.0.0.1", 1)  # everything else: the real one


async def test_close_sends_what_is_pending_first_and_nothing_after() -> None:
    real = Recording()
    t = _OneWritePerStep(real, asyncio.get_running_loop())
    t.write(b"last bytes")
    t.close()
    assert real.sent == [b"last bytes"] and real.closed
    t.write(b"too late")
    await asyncio.sleep(0)
    assert real.sent == [b"last bytes"]


def test_keep_alive_answers_through_the_wrapped_transport(tmp_path: object) -> None:
    """On a real socket, three requests on one connection: each answer whole and framed right
    (the unit tests above show the joining; this shows uvicorn works through the wrapper)."""
    cfg = write_config(tmp_path / "config.toml", "")  # type: ignore[operator]
    with running_ccm(cfg) as ccm:
        port = int(ccm.base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as s:
            for _ in range(3):
                s.sendall(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
                got = s.recv(65536)
                head, _, body = got.partition(b"\r\n\r\n")
                length = int(
                    dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])[
                        b"content-length"
                    ]
                )
                assert head.startswith(b"HTTP/1.1 200") and len(body) == length > 0
        assert httpx.get(f"{ccm.base_url}/health").status_code == 200
