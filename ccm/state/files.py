"""What several processes on one machine share through files when there is no Redis: a
cross-process lock (fcntl.flock on a 0600 lock file), polled so the event loop never blocks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

try:  # POSIX; elsewhere the lock is this process's only
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("ccm.state")

POLL_S = 0.02


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


@contextlib.asynccontextmanager
async def file_lock(path: Path, timeout: float = 60.0) -> AsyncIterator[bool]:
    """Hold an exclusive lock on `path` (created 0600) across processes. Yields True when
    held; after `timeout` seconds of waiting it goes on without (False) and says so."""
    if fcntl is None:  # pragma: no cover
        yield False
        return
    fd = _open(path)
    held = False
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    log.warning("waited %.0fs for %s; going on without it", timeout, path.name)
                    break
                await asyncio.sleep(POLL_S)
        yield held
    finally:
        if held:
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextlib.contextmanager
def file_lock_sync(path: Path) -> Iterator[None]:
    """The same lock for short synchronous critical sections (a small file's read-modify-write)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = _open(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
