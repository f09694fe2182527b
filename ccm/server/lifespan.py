"""What runs between start-up and shutdown, whichever ASGI layer receives the lifespan events
(the fast path in front of a lazily built Litestar app, or Litestar itself when the fast path
is off): the ledger's writer thread, the shared state (Redis), the config watcher, and closing the
upstream pools."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from ccm.runtime import State


@contextlib.asynccontextmanager
async def serving(state: State, *, watch: bool = True) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = None
    state.ledger.start()
    await state.shared.start()  # Redis ([state] url): connect, load, subscribe
    if watch:
        from ccm.reload import watch as watch_files

        task = asyncio.create_task(watch_files(state, stop))
    try:
        yield
    finally:
        stop.set()
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await state.aclose()
