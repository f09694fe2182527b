"""Serve ccm with uvicorn (uvloop + httptools): one function builds the uvicorn config for one
worker and for many, one function binds the port and runs it; the PID file `ccm stop` uses."""

from __future__ import annotations

import errno
import gc
import logging
import os
import socket
from pathlib import Path
from typing import Any

import uvicorn

from ccm.files import atomic_write
from ccm.runtime import State
from ccm.server.protocol import CoalescingHttpToolsProtocol

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
KEEP_ALIVE_S = 75  # longer than Claude Code's idle gap between turns: connections are reused
GRACEFUL_S = 30  # streams in flight get this long to finish on SIGTERM
FACTORY = "ccm.server.factory:app_from_env"  # what each of N workers imports


class PortInUse(Exception):
    """The address is taken; str() is one line saying what to do."""


def setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), format=LOG_FORMAT)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines would print URLs per call


def tune_gc() -> None:
    """Start-up objects (config, compiled rules, the app) live as long as the process: freeze
    them so collections stop rescanning them, and collect young objects less often. Under load
    most of ccm's tail latency was full collections (p99 54 -> 8 ms at concurrency 20)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def event_loop() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return "asyncio"
    return "uvloop"


def build_app(state: State, *, watch: bool = True, fast_path: bool = True) -> Any:
    """The ASGI app one worker serves: the fast path in front of Litestar (built on first
    need: fastpath.py says why)."""
    from ccm.server.fastpath import FastPath

    def litestar_app(lifespan: bool) -> Any:
        from ccm.server.app import create_app

        return create_app(state, watch=watch, lifespan=lifespan)

    if not fast_path:
        return litestar_app(True)
    return FastPath(lambda: litestar_app(False), state, watch=watch)


def server_config(app: Any, host: str, port: int, *, workers: int = 1) -> uvicorn.Config:
    """uvicorn's settings, the same for one worker (an app) and for N (the factory's name)."""
    return uvicorn.Config(
        app,
        factory=isinstance(app, str),
        host=host,
        port=port,
        workers=workers,
        loop=event_loop(),
        http=CoalescingHttpToolsProtocol,  # httptools, one write per response (protocol.py)
        ws="none",  # no websocket routes: don't import a websocket stack
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=GRACEFUL_S,
        timeout_keep_alive=KEEP_ALIVE_S,
    )


def uvicorn_config(
    state: State, host: str, port: int, *, watch: bool = True, fast_path: bool = True
) -> uvicorn.Config:
    """One worker serving `state` (also what the tests run)."""
    return server_config(build_app(state, watch=watch, fast_path=fast_path), host, port)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, or PortInUse with a hint (uvicorn would only log and exit)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        if e.errno in (errno.EADDRINUSE, errno.EACCES):
            why = "is in use" if e.errno == errno.EADDRINUSE else "is not allowed"
            raise PortInUse(
                f"port {port} on {host} {why}: another ccm (`ccm status`) or another program "
                f"holds it; start with --port N or set [server] port"
            ) from None
        raise PortInUse(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.set_inheritable(True)  # the workers of `--workers N` serve the same socket
    return sock


def serve(state: State, host: str, port: int, *, workers: int = 1, watch: bool = True) -> None:
    """Bind, then serve in the foreground until SIGTERM/SIGINT. Raises PortInUse."""
    sock = bind(host, port)
    if workers > 1 and not state.runtime.config.state.url:
        logging.getLogger("ccm").warning(
            "%d workers without [state] url: circuit breakers and key rests are per worker "
            "(each learns a rate limit or an outage on its own); OAuth refreshes and sign-ins "
            "are shared through files beside the token file. Set [state] url = "
            '"redis://..." to share them all (docs/deploy.md)',
            workers,
        )
    try:
        if workers > 1:
            from ccm.server.factory import CONFIG_ENV, WATCH_ENV

            os.environ[CONFIG_ENV] = str(state.config_path)
            os.environ[WATCH_ENV] = "1" if watch else "0"
            from uvicorn.supervisors import Multiprocess

            from ccm.ledger.metrics import multiprocess_dir

            with multiprocess_dir():  # /metrics adds up every worker's values
                Multiprocess(server_config(FACTORY, host, port, workers=workers), [sock]).run()
        else:
            uvicorn.Server(uvicorn_config(state, host, port, watch=watch)).run(sockets=[sock])
    finally:
        sock.close()


# ---- the PID file: one per config file ----------------------------------------------------


def pid_path(config_path: Path) -> Path:
    """`<config dir>/<config file name>.pid`: two configs in one folder each have their own."""
    p = config_path.expanduser().absolute()
    return p.with_name(p.name + ".pid")


def log_path(config_path: Path) -> Path:
    """Where a ccm started in the background (`ccm code`) writes its log."""
    p = config_path.expanduser().absolute()
    return p.with_name(p.name + ".log")


def read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _is_ccm(pid) else None


def read_address(path: Path) -> str | None:
    """The host:port a running ccm serves on (second line of the PID file)."""
    try:
        lines = path.read_text().split()
    except OSError:
        return None
    return lines[1] if len(lines) > 1 else None


def _is_ccm(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # guard against a reused PID: the process must be a ccm
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"ccm" in cmd


def write_pid(path: Path, address: str = "") -> None:
    """The PID, and on a second line the host:port `ccm status` asks for /health. A config
    folder mounted read-only (a container) gets none: `ccm stop` is then the container's."""
    try:
        atomic_write(path, f"{os.getpid()}\n{address}\n", 0o644)
    except OSError as e:
        logging.getLogger("ccm").warning("no PID file %s (%s)", path, e.strerror or e)


def remove_pid(path: Path) -> None:
    try:
        if path.read_text().split()[0] == str(os.getpid()):
            path.unlink()
    except OSError:
        pass
