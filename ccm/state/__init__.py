"""Where what every worker and instance must agree on lives: circuit breakers, key rests and
removals, round-robin counters, session-to-key stickiness, and locks (the OAuth refresh).

One small interface, `SharedState`, two implementations:

    LocalState   in-process dicts (one ccm process, or each worker on its own)
    RedisState   a LocalState mirror kept in step with Redis ([state] url): reads are local,
                 changes are written to Redis and published to the other instances, which
                 apply them to their mirrors; Redis gone -> local state, said once, and back
                 when it returns (ccm/state/redis.py)

The hot path reads the mirror only; a request makes at most one Redis round trip (the
round-robin counter, or a session's first key), and state changes are written in the
background. Times are wall-clock seconds (time.time()): instances compare them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from ccm.config.secrets import MissingSecret, resolve

STICKY_TTL_S = 6 * 3600  # a Claude Code session that is quiet this long may change keys
MAX_SESSIONS = 20_000  # session -> key entries kept in memory (least recent dropped)


@dataclass(frozen=True, slots=True)
class Removal:
    """A key taken out until the config changes (`generation`: the provider config's hash)."""

    generation: str
    reason: str
    at: float


def slot(provider: str, fp: str) -> str:
    """The name of one key of one provider in every table."""
    return f"{provider}\x1f{fp}"


class SharedState:
    """The interface, implemented in process. RedisState overrides the few methods that must
    reach Redis, and `_changed`, which hears about every change made here."""

    kind = "local"

    def __init__(self) -> None:
        self.rests: dict[str, tuple[float, str]] = {}  # slot -> (until, reason)
        self.removals: dict[str, Removal] = {}  # slot -> removal
        self.breakers: dict[str, float] = {}  # provider -> opened_at (absent: closed)
        self.counters: dict[str, int] = {}
        self.uses: dict[str, dict[str, int]] = {}  # pool -> fp -> uses
        self.sessions: OrderedDict[str, str] = OrderedDict()  # pool + session -> fp
        self._locks: dict[str, asyncio.Lock] = {}

    # ---- key rests and removals (reads are local) ----------------------------------------

    def rest_until(self, provider: str, fp: str, now: float | None = None) -> float:
        """When the key may be used again (0.0: it may now)."""
        entry = self.rests.get(slot(provider, fp))
        if entry is None:
            return 0.0
        if entry[0] <= (now if now is not None else time.time()):
            return 0.0
        return entry[0]

    def rest_reason(self, provider: str, fp: str) -> str | None:
        entry = self.rests.get(slot(provider, fp))
        return entry[1] if entry is not None else None

    def removal(self, provider: str, fp: str, generation: str) -> Removal | None:
        found = self.removals.get(slot(provider, fp))
        return found if found is not None and found.generation == generation else None

    def rest(self, provider: str, fp: str, until: float, reason: str) -> None:
        key = slot(provider, fp)
        old = self.rests.get(key)
        if old is not None and old[0] >= until:
            return
        self.rests[key] = (until, reason)
        self._changed("rest", key, {"until": until, "reason": reason})

    def remove(self, provider: str, fp: str, generation: str, reason: str) -> None:
        key = slot(provider, fp)
        removal = Removal(generation, reason, time.time())
        self.removals[key] = removal
        self._changed(
            "removed", key, {"generation": generation, "reason": reason, "at": removal.at}
        )

    # ---- choosing keys -------------------------------------------------------------------

    async def turn(self, name: str) -> int:
        """The next value of a round-robin counter (shared: one INCR)."""
        n = self.counters.get(name, 0) + 1
        self.counters[name] = n
        return n

    def used(self, name: str, fp: str) -> None:
        """Count a use of a key (least-used)."""
        per = self.uses.setdefault(name, {})
        per[fp] = per.get(fp, 0) + 1

    def use_counts(self, name: str) -> Mapping[str, int]:
        return self.uses.get(name, {})

    async def stuck(self, name: str, session: str) -> str | None:
        """The key `session` holds in pool `name`, if any."""
        key = f"{name}\x1f{session}"
        fp = self.sessions.get(key)
        if fp is not None:
            self.sessions.move_to_end(key)
        return fp

    async def stick(self, name: str, session: str, fp: str, *, replace: bool = False) -> str:
        """Give `session` the key `fp` unless it holds one already (then that one, unless
        `replace`). The key the session holds now."""
        key = f"{name}\x1f{session}"
        held = self.sessions.get(key)
        if held is not None and not replace:
            return held
        self._remember(key, fp)
        return fp

    def _remember(self, key: str, fp: str) -> None:
        self.sessions[key] = fp
        self.sessions.move_to_end(key)
        while len(self.sessions) > MAX_SESSIONS:
            self.sessions.popitem(last=False)

    # ---- circuit breakers ----------------------------------------------------------------

    def breaker_opened(self, provider: str) -> float | None:
        return self.breakers.get(provider)

    def set_breaker(self, provider: str, opened_at: float | None) -> None:
        if opened_at is None:
            if self.breakers.pop(provider, None) is None:
                return
        else:
            self.breakers[provider] = opened_at
        self._changed("breaker", provider, {"opened_at": opened_at})

    # ---- locks ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lock(self, name: str, ttl: float = 60.0) -> AsyncIterator[bool]:
        """Hold `name` across every worker and instance that shares this state. Yields True
        when the lock is shared (Redis), False when it is this process's only (the caller
        then adds a file lock if several processes share files)."""
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            yield False

    # ---- lifecycle and reporting ---------------------------------------------------------

    @property
    def shared(self) -> bool:
        """True while the state really is shared with other processes."""
        return False

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {"backend": self.kind, "shared": self.shared}

    def _changed(self, kind: str, key: str, data: dict[str, Any]) -> None:
        """Hook: a change made here (RedisState writes and publishes it)."""


LocalState = SharedState


def open_state(url: str | None, *, instance: str | None = None) -> SharedState:
    """The state a config asks for: Redis at `url` ($VAR resolved now), else in-process.
    MissingSecret when `url` names an unset variable; RuntimeError when redis-py is missing."""
    if not url:
        return LocalState()
    resolved = resolve(url, "state.url")
    if not resolved:
        raise MissingSecret("state.url is empty")
    try:
        from ccm.state.redis import RedisState
    except ImportError:  # pragma: no cover - the [redis] extra is missing
        raise RuntimeError(
            "[state] url needs redis-py: pip install 'ccm[redis]' (or pip install redis)"
        ) from None
    return RedisState(resolved, instance=instance)


__all__ = ["LocalState", "Removal", "SharedState", "open_state", "slot"]
