"""Hot reload: watch the config and rules files; compile, then swap, or keep the old and report."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from watchfiles import Change, awatch

from ccm.runtime import State

log = logging.getLogger("ccm.reload")


async def watch(state: State, stop: asyncio.Event, debounce_ms: int = 150) -> None:
    """Runs until `stop` is set. Watches the folders (editors replace files by rename) but only
    the files ccm reads: a log or anything else written beside the config wakes nothing. The
    list is re-read after every reload, since the config may point at another rules file."""
    while not stop.is_set():
        targets = {p.resolve() for p in state.watched_paths()}
        folders = {p.parent for p in targets if p.parent.exists()}
        if not folders:
            await asyncio.sleep(1)
            continue

        def ours(_change: Change, path: str, targets: set[Path] = targets) -> bool:
            return Path(path).resolve() in targets

        async for _changes in awatch(
            *folders, stop_event=stop, debounce=debounce_ms, recursive=False, watch_filter=ours
        ):
            await state.reload()
            if {p.resolve() for p in state.watched_paths()} != targets:
                break  # the rules file moved: watch the new set
