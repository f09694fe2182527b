"""ccm.state: the same behaviour in process and through a real redis-server, what one instance
changes seen by another, and serving on when Redis goes away (and sharing again when it is
back)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from ccm.config.schema import ProviderConfig
from ccm.health import Health
from ccm.providers.keys import KeyPool
from ccm.state import LocalState, SharedState, slot
from ccm.state.files import file_lock
from ccm.state.redis import RedisState
from tests.fakes.redis_server import RedisServer

KEYS = ["sk-state-key-aaaa", "sk-state-key-bbbb", "sk-state-key-cccc"]


async def eventually(check: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("not within time")
        await asyncio.sleep(0.01)


@pytest.fixture(params=["local", "redis"])
async def state(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SharedState]:
    """One case, both implementations (msgspec's `proto` fixture, STYLE.md)."""
    if request.param == "local":
        yield LocalState()
        return
    with RedisServer(tmp_path / "redis") as server:
        s = RedisState(server.url)
        await s.start()
        assert s.shared
        yield s
        await s.aclose()


class TestBothBackends:
    async def test_rest_and_removal(self, state: SharedState) -> None:
        now = time.time()
        state.rest("p", "fp1", now + 30, "429: slow")
        assert state.rest_until("p", "fp1") == pytest.approx(now + 30)
        assert state.rest_until("p", "fp1", now + 31) == 0.0
        state.rest("p", "fp1", now + 5, "shorter")  # a shorter rest does not cut a longer one
        assert state.rest_until("p", "fp1") == pytest.approx(now + 30)
        state.remove("p", "fp2", "gen-1", "upstream answered 401")
        assert state.removal("p", "fp2", "gen-1") is not None
        assert state.removal("p", "fp2", "gen-2") is None  # a changed config: not removed

    async def test_counter_and_sessions(self, state: SharedState) -> None:
        assert [await state.turn("pool") for _ in range(3)] == [1, 2, 3]
        assert await state.stick("pool", "s1", "fpA") == "fpA"
        assert await state.stick("pool", "s1", "fpB") == "fpA"  # held
        assert await state.stuck("pool", "s1") == "fpA"
        assert await state.stick("pool", "s1", "fpB", replace=True) == "fpB"

    async def test_breaker(self, state: SharedState) -> None:
        health = Health(threshold=2, cooldown=30, state=state)
        health.failure("p", "500")
        assert health.allow("p")
        health.failure("p", "500")
        assert not health.allow("p") and state.breaker_opened("p") is not None
        health.success("p")
        assert state.breaker_opened("p") is None

    async def test_lock_is_exclusive(self, state: SharedState) -> None:
        inside: list[str] = []

        async def hold(name: str) -> None:
            async with state.lock("oauth-refresh:x", 5):
                inside.append(f"{name}+")
                await asyncio.sleep(0.05)
                inside.append(f"{name}-")

        await asyncio.gather(hold("a"), hold("b"))
        assert inside in (["a+", "a-", "b+", "b-"], ["b+", "b-", "a+", "a-"])


async def test_two_instances_see_each_others_changes(redis_server: RedisServer) -> None:
    a, b = RedisState(redis_server.url), RedisState(redis_server.url)
    await a.start()
    await b.start()
    try:
        config = ProviderConfig(name="p", provider_type="openai", api_keys=KEYS)
        pool_a, pool_b = KeyPool(config, a), KeyPool(config, b)
        member = pool_a.members[0]
        pool_a.issued(member, KEYS[0])
        pool_a.failed(KEYS[0], 429, {"retry-after": "60"})
        await eventually(lambda: b.rest_until("p", member.fp("p")) > 0)
        # B's pool no longer picks the key A rested, with no round trip to ask
        assert {(await pool_b.choose()).ref for _ in range(6)} == set(KEYS[1:])
        pool_a.issued(pool_a.members[1], KEYS[1])
        pool_a.failed(KEYS[1], 401, {})
        await eventually(lambda: bool(b.removal("p", pool_b.members[1].fp("p"), pool_b.generation)))
        a.set_breaker("q", time.time())
        await eventually(lambda: b.breaker_opened("q") is not None)
        a.set_breaker("q", None)
        await eventually(lambda: b.breaker_opened("q") is None)
        # one round-robin counter for both: each reserves a block, values never repeat
        turns = [await a.turn("rr"), await b.turn("rr"), await a.turn("rr"), await b.turn("rr")]
        assert turns == [1, 17, 2, 18]
        many = [await a.turn("rr2") for _ in range(40)] + [await b.turn("rr2") for _ in range(40)]
        assert len(set(many)) == 80
        # a session's key is the first instance's choice
        assert await a.stick("pool", "sess", "fpA") == "fpA"
        assert await b.stick("pool", "sess", "fpB") == "fpA"
        assert b.events_applied >= 2  # the breaker changes came by pub/sub
    finally:
        await a.aclose()
        await b.aclose()


async def test_lock_across_instances(redis_server: RedisServer) -> None:
    a, b = RedisState(redis_server.url), RedisState(redis_server.url)
    await a.start()
    await b.start()
    try:
        order: list[str] = []

        async def hold(state: RedisState, name: str) -> None:
            async with state.lock("oauth-refresh:acct", 5) as shared:
                assert shared
                order.append(f"{name}+")
                await asyncio.sleep(0.1)
                order.append(f"{name}-")

        await asyncio.gather(hold(a, "a"), hold(b, "b"))
        assert order in (["a+", "a-", "b+", "b-"], ["b+", "b-", "a+", "a-"])
    finally:
        await a.aclose()
        await b.aclose()


async def test_redis_gone_then_back(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = RedisState(redis_server.url), RedisState(redis_server.url)
    await a.start()
    await b.start()
    try:
        redis_server.kill()
        t0 = time.monotonic()
        # every call still answers, from local state, at once
        assert await a.turn("rr") >= 1
        assert await a.stick("pool", "s", "fpA") == "fpA"
        a.rest("p", "fpX", time.time() + 60, "429")
        async with a.lock("oauth-refresh:z", 2) as shared:
            assert shared is False  # the caller adds its file lock
        assert time.monotonic() - t0 < 2
        await eventually(lambda: not a.shared and not b.shared)
        downs = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len([r for r in downs if r.name == "ccm.state"]) == 2  # once per instance
        assert "fpX" not in str(b.rests)
        redis_server.start()  # the same port, empty (no persistence)
        await eventually(lambda: a.shared and b.shared, timeout=10)
        assert any("is back" in r.getMessage() for r in caplog.records)
        # A's rest made while Redis was gone reaches B once both are back
        await eventually(lambda: b.rest_until("p", "fpX") > 0, timeout=5)
        b.rest("p", "fpY", time.time() + 60, "429")
        await eventually(lambda: a.rest_until("p", "fpY") > 0)
        assert slot("p", "fpY") in a.rests
    finally:
        await a.aclose()
        await b.aclose()


async def test_file_lock_across_tasks(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json.refresh.lock"
    order: list[str] = []

    async def hold(name: str) -> None:
        async with file_lock(path, 5) as held:
            assert held
            order.append(f"{name}+")
            await asyncio.sleep(0.05)
            order.append(f"{name}-")

    await asyncio.gather(hold("a"), hold("b"))
    assert order in (["a+", "a-", "b+", "b-"], ["b+", "b-", "a+", "a-"])
    assert (path.stat().st_mode & 0o777) == 0o600
