"""The shared state in Redis ([state] url), through redis-py's asyncio client.

Reads come from the in-process mirror (the SharedState tables this class inherits); a change
made here is applied to the mirror at once, then written to Redis and published on
`ccm:events` in the background (one pipelined round trip, off the request path). Every
instance subscribes to `ccm:events` and applies what the others publish. The request path
makes at most one round trip, and most requests none: the round-robin counter (INCRBY of a
block of 16 values, so one request in 16), or the first request of a Claude Code session on
this instance (SET NX + GET, pipelined).

Tables: `ccm:rest` and `ccm:removed` (hashes, provider + key fingerprint -> JSON),
`ccm:breaker` (provider -> opened_at), `ccm:rr:<pool>` (counters), `ccm:uses:<pool>`,
`ccm:sticky:<pool>:<session>` (with a TTL), `ccm:lock:<name>` (redis-py's Lock).

Redis gone: every call falls back to the mirror at once (no retries, short timeouts), the
fault is logged once, and a background task reconnects; when Redis answers again the mirror
and Redis are merged (longest rest, every removal, open breakers) and sharing resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import LockError, RedisError

from ccm.config.secrets import redact_url
from ccm.state import STICKY_TTL_S, Removal, SharedState

log = logging.getLogger("ccm.state")

CHANNEL = "ccm:events"
TIMEOUT_S = 0.5  # one Redis call; past it the request goes on with local state
RECONNECT_S = 0.5
TURN_BLOCK = 16  # round-robin counter values an instance reserves per round trip
POLL_S = 0.25  # the listener's longest wait for a message (it checks for shutdown between)
FAULTS = (RedisError, OSError, asyncio.TimeoutError)
TABLES = ("rest", "removed", "breaker")


def _client(url: str, *, timeout: float | None) -> Redis:
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=TIMEOUT_S,
        retry=Retry(NoBackoff(), 0),  # a fault falls back to local state at once
        decode_responses=True,
        health_check_interval=0,
    )


class RedisState(SharedState):
    kind = "redis"

    def __init__(self, url: str, *, instance: str | None = None) -> None:
        super().__init__()
        self.url = url
        self.instance = instance or uuid.uuid4().hex[:12]
        self.redis: Redis | None = None
        self._up = False
        self._said_down = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._closing = False
        self._blocks: dict[str, list[int]] = {}  # counter -> [next, last] reserved
        self.events_applied = 0  # changes heard from other instances (for tests and status)

    # ---- lifecycle -----------------------------------------------------------------------

    @property
    def shared(self) -> bool:
        return self._up

    async def start(self) -> None:
        if self._watcher is not None:
            return
        self.redis = _client(self.url, timeout=TIMEOUT_S)
        try:
            await self._connect()
        except FAULTS as e:
            self._down(e)
        self._watcher = asyncio.create_task(self._watch())

    async def aclose(self) -> None:
        self._closing = True
        if self._watcher is not None:
            self._watcher.cancel()
            # redis-py's get_message can swallow a cancel: the loop also ends on _closing
            await asyncio.wait({self._watcher}, timeout=3)
            self._watcher = None
        for task in list(self._tasks):
            task.cancel()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()
            self.redis = None
        self._up = False

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "redis",
            "url": redact_url(self.url),
            "shared": self._up,
            "instance": self.instance,
        }

    def _where(self) -> str:
        return redact_url(self.url) or "redis"

    def _down(self, error: BaseException) -> None:
        was = self._up
        self._up = False
        if was or not self._said_down:
            self._said_down = True
            log.warning(
                "state: Redis at %s is unreachable (%s); serving on this process's own state "
                "until it returns",
                self._where(),
                type(error).__name__,
            )

    async def _connect(self) -> None:
        """Ping, merge the mirror with Redis, and mark the state shared."""
        assert self.redis is not None
        await self.redis.ping()
        await self._sync()
        if not self._up and self._said_down:
            log.warning("state: Redis at %s is back; sharing state again", self._where())
        self._up = True
        self._said_down = False

    async def _watch(self) -> None:
        """Listen to the others' changes; reconnect when Redis goes away."""
        while not self._closing:
            listener = _client(self.url, timeout=None)
            try:
                if not self._up:
                    await self._connect()
                pubsub = listener.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(CHANNEL)
                await self._sync()  # what changed before the subscription took hold
                while not self._closing:
                    message = await pubsub.get_message(timeout=POLL_S)
                    if message is not None:
                        self._apply(message.get("data"))
                    elif not self._up:  # a request saw Redis fail: resubscribe when back
                        break
            except asyncio.CancelledError:
                raise
            except FAULTS as e:
                self._down(e)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(listener.aclose(), 1)
            if not self._closing:
                await asyncio.sleep(RECONNECT_S)

    # ---- keeping the mirror and Redis in step --------------------------------------------

    async def _sync(self) -> None:
        """Merge: the longest rest, every removal, the latest opening of a breaker; then write
        back what Redis lacks (a Redis that restarted empty gets this instance's picture)."""
        assert self.redis is not None
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            for table in TABLES:
                pipe.hgetall(f"ccm:{table}")
            rests, removed, breakers = await pipe.execute()
        for key, raw in rests.items():
            self._apply_change("rest", key, _loads(raw))
        for key, raw in removed.items():
            self._apply_change("removed", key, _loads(raw))
        for key, raw in breakers.items():
            self._apply_change("breaker", key, {"opened_at": float(raw)})
        writes: list[tuple[str, str, dict[str, Any]]] = []
        for key, (until, reason) in list(self.rests.items()):
            if until <= now:
                del self.rests[key]
            elif key not in rests or _loads(rests[key]).get("until", 0) < until:
                writes.append(("rest", key, {"until": until, "reason": reason}))
        for key, r in self.removals.items():
            if key not in removed:
                data = {"generation": r.generation, "reason": r.reason, "at": r.at}
                writes.append(("removed", key, data))
        for provider, opened in self.breakers.items():
            if provider not in breakers:
                writes.append(("breaker", provider, {"opened_at": opened}))
        stale = [k for k, raw in rests.items() if _loads(raw).get("until", 0) <= now]
        if writes or stale:
            async with self.redis.pipeline(transaction=False) as pipe:
                for table, key, data in writes:
                    value = repr(data["opened_at"]) if table == "breaker" else json.dumps(data)
                    pipe.hset(f"ccm:{table}", key, value)
                    # published too: an instance that synced before this one came back
                    # learns what this one saw while Redis was gone
                    event = {"o": self.instance, "k": table, "key": key, "d": data}
                    pipe.publish(CHANNEL, json.dumps(event))
                if stale:
                    pipe.hdel("ccm:rest", *stale)
                await pipe.execute()

    def _apply(self, raw: Any) -> None:
        try:
            event = json.loads(raw)
        except (TypeError, ValueError):
            return
        if not isinstance(event, dict) or event.get("o") == self.instance:
            return
        self._apply_change(str(event.get("k")), str(event.get("key")), event.get("d") or {})
        self.events_applied += 1

    def _apply_change(self, kind: str, key: str, data: dict[str, Any]) -> None:
        """A change made elsewhere, into the mirror (not published again)."""
        if kind == "rest":
            until = float(data.get("until") or 0)
            old = self.rests.get(key)
            if old is None or old[0] < until:
                self.rests[key] = (until, str(data.get("reason") or ""))
        elif kind == "removed":
            self.removals[key] = Removal(
                str(data.get("generation")),
                str(data.get("reason") or ""),
                float(data.get("at") or 0),
            )
        elif kind == "breaker":
            opened = data.get("opened_at")
            if opened is None:
                self.breakers.pop(key, None)
            else:
                self.breakers[key] = float(opened)

    def _changed(self, kind: str, key: str, data: dict[str, Any]) -> None:
        if not self._up or self.redis is None:
            return  # merged in when Redis is back (_sync)
        event = json.dumps({"o": self.instance, "k": kind, "key": key, "d": data})

        async def push(pipe: Any) -> None:
            if kind == "breaker" and data.get("opened_at") is None:
                pipe.hdel("ccm:breaker", key)
            elif kind == "breaker":
                pipe.hset("ccm:breaker", key, repr(data["opened_at"]))
            else:
                pipe.hset(f"ccm:{kind}", key, json.dumps(data))
            pipe.publish(CHANNEL, event)

        self._background(push)

    def _background(self, fill: Callable[[Any], Awaitable[None]]) -> None:
        """One pipelined round trip, off the request path."""
        redis = self.redis
        if redis is None:
            return

        async def run() -> list[Any] | None:
            try:
                async with redis.pipeline(transaction=False) as pipe:
                    await fill(pipe)
                    return await pipe.execute()
            except FAULTS as e:
                self._down(e)
                return None

        self._spawn(run())

    def _spawn(self, work: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a change made outside the event loop: merged at the next sync
            work.close()
            return
        task = loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- the request path ----------------------------------------------------------------

    async def turn(self, name: str) -> int:
        """The next value of a shared counter. An instance reserves TURN_BLOCK values at a time
        (one INCRBY per block, not one round trip per request) and walks them in order: the
        values stay unique across instances and each instance still turns through the keys."""
        block = self._blocks.get(name)
        if block is not None and block[0] <= block[1]:
            n = block[0]
            block[0] += 1
            return n
        if self._up and self.redis is not None:
            try:
                end = int(await self.redis.incrby(f"ccm:rr:{name}", TURN_BLOCK))
            except FAULTS as e:
                self._down(e)
            else:
                self._blocks[name] = [end - TURN_BLOCK + 2, end]
                self.counters[name] = end
                return end - TURN_BLOCK + 1
        return await super().turn(name)

    def used(self, name: str, fp: str) -> None:
        super().used(name, fp)
        if not self._up:
            return

        async def fill(pipe: Any) -> None:
            pipe.hincrby(f"ccm:uses:{name}", fp, 1)
            pipe.hgetall(f"ccm:uses:{name}")

        async def count() -> None:
            redis = self.redis
            if redis is None:
                return
            try:
                async with redis.pipeline(transaction=False) as pipe:
                    await fill(pipe)
                    _, counts = await pipe.execute()
            except FAULTS as e:
                self._down(e)
                return
            self.uses[name] = {k: int(v) for k, v in counts.items()}

        self._spawn(count())

    async def stick(self, name: str, session: str, fp: str, *, replace: bool = False) -> str:
        if not self._up or self.redis is None:
            return await super().stick(name, session, fp, replace=replace)
        key = f"ccm:sticky:{name}:{session}"
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                if replace:
                    pipe.set(key, fp, ex=STICKY_TTL_S)
                else:
                    pipe.set(key, fp, ex=STICKY_TTL_S, nx=True)
                pipe.get(key)
                _, held = await pipe.execute()
        except FAULTS as e:
            self._down(e)
            return await super().stick(name, session, fp, replace=replace)
        held = held or fp
        self._remember(f"{name}\x1f{session}", held)
        return held

    @contextlib.asynccontextmanager
    async def lock(self, name: str, ttl: float = 60.0) -> AsyncIterator[bool]:
        """Redis's lock (every instance), else this process's (the caller adds a file lock)."""
        async with super().lock(name, ttl) as _local:
            lock = None
            if self._up and self.redis is not None:
                lock = self.redis.lock(
                    f"ccm:lock:{name}", timeout=ttl, sleep=0.05, blocking_timeout=ttl
                )
                try:
                    if not await lock.acquire():
                        lock = None
                except FAULTS as e:
                    self._down(e)
                    lock = None
            try:
                yield lock is not None
            finally:
                if lock is not None:
                    with contextlib.suppress(LockError, *FAULTS):
                        await lock.release()


def _loads(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


__all__ = ["CHANNEL", "RedisState"]
