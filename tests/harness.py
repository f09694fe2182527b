"""Run a real ccm (Litestar on uvicorn, real socket) in a background thread for a test."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
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

    def client(self, timeout: float = 20) -> httpx.Client:
        """An httpx client for this ccm (close it, or use it in a `with`)."""
        return httpx.Client(base_url=self.base_url, timeout=timeout)

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
    wait_until(lambda: server.started, 10, what="ccm to start", alive=thread.is_alive)
    try:
        yield running
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(
    ready: Callable[[], object],
    timeout: float = 8.0,
    *,
    what: str = "the condition",
    alive: Callable[[], bool] = lambda: True,
) -> None:
    """Poll `ready` until it is true; AssertionError naming `what` if `timeout` seconds pass,
    or `alive` turns false (the process or thread that should make it true has gone), first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if not alive() or time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout}s for {what}: not reached")
        time.sleep(0.02)


def _healthy(base: str) -> bool:
    try:
        httpx.get(f"{base}/health", timeout=1)
    except httpx.HTTPError:
        return False
    return True


def wait_healthy(base: str, proc: subprocess.Popen, timeout: float = 20) -> None:
    """Until `base`/health answers; AssertionError if `proc` exits first or time runs out."""
    wait_until(
        lambda: _healthy(base),
        timeout,
        what=f"{base}/health to answer",
        alive=lambda: proc.poll() is None,
    )


@contextlib.contextmanager
def ccm_process(
    config_path: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen, str]]:
    """A real `ccm start` process on a free port, once its /health answers; (process, base URL).
    Stopped at the end unless the test already stopped it."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ccm.cli",
            "start",
            "--config",
            str(config_path),
            "--port",
            str(port),
            "--no-watch",
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
