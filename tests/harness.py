"""Run a real ccm (Litestar on uvicorn, real socket) in a background thread for a test."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from ccm.config.load import load_config
from ccm.runtime import State, build_runtime
from ccm.server.run import uvicorn_config


@dataclass
class RunningCCM:
    base_url: str
    state: State
    config_path: Path
    server: uvicorn.Server
    loop: asyncio.AbstractEventLoop | None = None

    def reload(self) -> bool:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(self.state.reload(), self.loop).result(10)


@contextlib.contextmanager
def running_ccm(
    config_path: Path, *, watch: bool = False, fast_path: bool = True
) -> Iterator[RunningCCM]:
    loaded = load_config(config_path)
    state = State(config_path, build_runtime(loaded))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn_config(state, "127.0.0.1", port, watch=watch, fast_path=fast_path)
    config.timeout_graceful_shutdown = 2
    server = uvicorn.Server(config)
    running = RunningCCM(f"http://127.0.0.1:{port}", state, config_path, server)

    def run() -> None:
        loop = asyncio.new_event_loop()
        running.loop = loop
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve(sockets=[sock]))
        loop.close()

    thread = threading.Thread(target=run, name="ccm-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("ccm did not start")
        time.sleep(0.01)
    try:
        yield running
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
