"""Key pools and the rate-limit rules, as decisions: headers that say when a key may be used
again, the strategies, resting and removal, and dispatch over a pool on httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from ccm.config.schema import ProviderConfig, ServerConfig
from ccm.dispatch import Reply, RetryPolicy, dispatch
from ccm.health import Health
from ccm.providers.client import ProviderClient
from ccm.providers.keys import KeyPool, NoKey, fingerprint, go_duration, rest_seconds
from ccm.rules.chain import ChainEntry
from ccm.state import LocalState
from tests.test_dispatch import BODY, anthropic_message, ok

NOW = 1_000_000.0
KEYS = ["sk-key-aaaa-1111", "sk-key-bbbb-2222", "sk-key-cccc-3333"]


# --------------------------------------------------------------------------- rest headers


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("0s", 0.0), ("7", 7.0)],
)
def test_openai_durations(text: str, seconds: float) -> None:
    assert go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "1x", "s1"])
def test_bad_durations(text: str) -> None:
    assert go_duration(text) is None


def test_retry_after_seconds_and_http_date() -> None:
    assert rest_seconds({"retry-after": "120"}, NOW) == 120
    when = datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=90)
    assert rest_seconds({"Retry-After": format_datetime(when, usegmt=True)}, NOW) == 90
    assert rest_seconds({"retry-after-ms": "1500", "retry-after": "9"}, NOW) == 1.5  # ms first


def test_openai_reset_of_the_limit_that_ran_out() -> None:
    headers = {
        "x-ratelimit-remaining-requests": "12",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    assert rest_seconds(headers, NOW) == 360
    headers["x-ratelimit-remaining-tokens"] = "5"
    headers["x-ratelimit-remaining-requests"] = "0"
    assert rest_seconds(headers, NOW) == 1


def test_anthropic_rfc3339_resets() -> None:
    at = datetime.fromtimestamp(NOW + 42, UTC).isoformat().replace("+00:00", "Z")
    headers = {
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": at,
        "anthropic-ratelimit-tokens-remaining": "100",
        "anthropic-ratelimit-tokens-reset": datetime.fromtimestamp(NOW + 5, UTC).isoformat(),
    }
    assert rest_seconds(headers, NOW) == pytest.approx(42)


def test_no_header_says_nothing() -> None:
    assert rest_seconds({"content-type": "application/json"}, NOW) is None
    assert rest_seconds({"retry-after": "whenever"}, NOW) is None


# --------------------------------------------------------------------------- the pool


def pool(strategy: str = "round-robin", n: int = 3, **extra: Any) -> KeyPool:
    config = ProviderConfig(
        name="p", provider_type="openai", api_keys=KEYS[:n], key_strategy=strategy, **extra
    )
    return KeyPool(config, LocalState())


async def picks(p: KeyPool, n: int, **kw: Any) -> list[str]:
    return [(await p.choose(**kw)).ref for _ in range(n)]


async def test_round_robin_turns() -> None:
    assert await picks(pool(), 6) == [KEYS[1], KEYS[2], KEYS[0], KEYS[1], KEYS[2], KEYS[0]]


async def test_fill_first_until_the_key_rests() -> None:
    p = pool("fill-first")
    assert await picks(p, 3) == [KEYS[0]] * 3
    p.issued(p.members[0], KEYS[0])
    assert p.failed(KEYS[0], 429, {"retry-after": "30"}) == "rest"
    assert await picks(p, 2) == [KEYS[1]] * 2


async def test_least_used_evens_out() -> None:
    p = pool("least-used")
    assert Counter(await picks(p, 9)) == {k: 3 for k in KEYS}


async def test_session_keeps_its_key_and_moves_when_it_rests() -> None:
    p = pool("session")
    a = await picks(p, 4, session="sess-a")
    b = await picks(p, 4, session="sess-b")
    assert len(set(a)) == 1 and len(set(b)) == 1 and a[0] != b[0]
    p.issued(p.members[KEYS.index(a[0])], a[0])
    p.failed(a[0], 429, {})
    moved = await picks(p, 3, session="sess-a")
    assert len(set(moved)) == 1 and moved[0] != a[0]


async def test_rested_key_is_skipped_until_its_time() -> None:
    p = pool(n=2)
    p.issued(p.members[0], KEYS[0])
    p.failed(KEYS[0], 429, {"retry-after": "0.3"})
    assert set(await picks(p, 4)) == {KEYS[1]}
    await asyncio.sleep(0.35)
    assert set(await picks(p, 4)) == set(KEYS[:2])


async def test_default_rest_when_nothing_says() -> None:
    p = pool(n=1, key_rest_ms=2000)
    p.issued(p.members[0], KEYS[0])
    p.failed(KEYS[0], 429, {})
    with pytest.raises(NoKey) as e:
        await p.choose()
    assert e.value.kind == "rest" and 1.5 < e.value.until - time.time() <= 2.0


@pytest.mark.parametrize("code", [401, 402, 403])
async def test_refused_key_is_removed_until_the_config_changes(code: int) -> None:
    p = pool(n=2)
    p.issued(p.members[0], KEYS[0])
    assert p.failed(KEYS[0], code, {}, f"bad key {KEYS[0]}") == "removed"
    assert set(await picks(p, 4)) == {KEYS[1]}
    view = {v["fingerprint"]: v for v in p.view()}
    gone = view[fingerprint(KEYS[0])]
    assert gone["state"] == "removed" and str(code) in gone["reason"]
    assert KEYS[0] not in json.dumps(p.view())  # the key shows by fingerprint only
    # the same keys under a changed config: a new generation, the removal no longer holds
    changed = ProviderConfig(name="p", provider_type="openai", api_keys=KEYS[:2], key_rest_ms=1)
    again = KeyPool(changed, p.state)
    assert set(await picks(again, 4)) == set(KEYS[:2])


async def test_unset_variable_is_a_config_fault_said_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("CCM_TEST_UNSET_A", raising=False)
    config = ProviderConfig(
        name="p", provider_type="openai", api_keys=["$CCM_TEST_UNSET_A", KEYS[0]]
    )
    p = KeyPool(config, LocalState())
    assert set(await picks(p, 5)) == {KEYS[0]}
    said = [r for r in caplog.records if "CCM_TEST_UNSET_A" in r.getMessage()]
    assert len(said) == 1 and "'p'" in said[0].getMessage()
    only = KeyPool(
        ProviderConfig(name="q", provider_type="openai", api_key="$CCM_TEST_UNSET_A"), LocalState()
    )
    with pytest.raises(NoKey) as e:
        await only.choose()
    assert (
        e.value.kind == "config" and "$CCM_TEST_UNSET_A" in str(e.value) and "'q'" in str(e.value)
    )


# --------------------------------------------------------------------------- dispatch over a pool


def pooled(
    handler: Any,
    name: str = "p",
    keys: list[str] = KEYS,
    state: LocalState | None = None,
    **extra: Any,
) -> ProviderClient:
    config = ProviderConfig(
        name=name,
        provider_type="anthropic",
        api_keys=keys,
        base_url="http://up.test",
        **extra,
    )
    return ProviderClient(
        config, ServerConfig(), transport=httpx.MockTransport(handler), state=state or LocalState()
    )


async def send(
    *clients: ProviderClient, policy: RetryPolicy | None = None, body: dict | None = None
) -> Reply:
    chain = tuple(ChainEntry(c.name, f"{c.name}-model", i, "m") for i, c in enumerate(clients))
    return await dispatch(
        {c.name: c for c in clients},
        chain,
        body or BODY,
        {},
        stream=False,
        requested_model="claude-x",
        input_tokens=lambda: 1,
        policy=policy or RetryPolicy(passes=0),
    )


def by_key(limited: dict[str, httpx.Response]) -> tuple[Counter[str], Any]:
    seen: Counter[str] = Counter()

    def handler(request: httpx.Request) -> httpx.Response:
        key = request.headers["x-api-key"]
        seen[key] += 1
        return limited.get(key) or httpx.Response(200, json=anthropic_message(key))

    return seen, handler


async def test_one_limited_key_of_three_30_requests() -> None:
    """The acceptance case on the decision level: all succeed, the limited key is tried once,
    the other two share the rest evenly."""
    limited = httpx.Response(429, json={"error": "slow"}, headers={"retry-after": "120"})
    seen, handler = by_key({KEYS[1]: limited})
    client = pooled(handler)
    replies = [await send(client) for _ in range(30)]
    assert all(r.status == 200 for r in replies)
    assert seen[KEYS[1]] <= 2
    assert abs(seen[KEYS[0]] - seen[KEYS[2]]) <= 1 and seen[KEYS[0]] + seen[KEYS[2]] == 30


async def test_every_key_limited_answers_429_at_once_then_no_upstream_call() -> None:
    limited = httpx.Response(429, json={"error": "slow"}, headers={"retry-after": "120"})
    seen, handler = by_key(dict.fromkeys(KEYS, limited))
    client = pooled(handler)
    t0 = time.monotonic()
    reply = await send(client, policy=RetryPolicy(passes=1, max_wait=10))
    assert time.monotonic() - t0 < 1
    assert (
        reply.status == 429 and json.loads(reply.body or b"")["error"]["type"] == "rate_limit_error"
    )
    assert reply.headers["retry-after"] == "30"  # 120 capped by max_client_retry_after_s
    assert sum(seen.values()) == 3
    again = await send(client)
    assert again.status == 429 and sum(seen.values()) == 3  # resting: no upstream call
    assert again.attempts[0].reason.startswith("skipped: ")


async def test_short_rest_is_waited_inside_ccm() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return httpx.Response(429, json={"error": "slow"}, headers={"retry-after-ms": "300"})
        return httpx.Response(200, json=anthropic_message())

    reply = await send(pooled(handler, keys=KEYS[:1]), policy=RetryPolicy(passes=1, max_wait=2))
    assert reply.status == 200 and calls[1] - calls[0] >= 0.3


async def test_every_key_refused_answers_401_that_claude_code_does_not_retry() -> None:
    seen, handler = by_key(dict.fromkeys(KEYS, httpx.Response(401, json={"error": "bad key"})))
    backup_calls = []

    def backup(request: httpx.Request) -> httpx.Response:
        backup_calls.append(1)
        return httpx.Response(401, json={"error": "bad key too"})

    reply = await send(pooled(handler), pooled(backup, name="q", keys=["sk-q-key-0000"]))
    assert reply.status == 401 and reply.headers["x-should-retry"] == "false"
    assert sum(seen.values()) == 3 and len(backup_calls) == 1
    again = await send(pooled(handler), pooled(backup, name="q", keys=["sk-q-key-0000"]))
    assert again.status == 401  # new clients, new (local) state: they are asked again


async def test_removed_key_is_not_asked_again() -> None:
    state = LocalState()
    seen, handler = by_key({KEYS[0]: httpx.Response(403, json={"error": "forbidden"})})
    client = pooled(handler, keys=KEYS[:2], state=state)
    for _ in range(6):
        assert (await send(client)).status == 200
    assert seen[KEYS[0]] == 1 and seen[KEYS[1]] == 6


async def test_config_fault_answers_once_clearly_without_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CCM_TEST_UNSET_B", raising=False)
    client = pooled(
        lambda r: httpx.Response(200, json=anthropic_message()), keys=["$CCM_TEST_UNSET_B"]
    )
    reply = await send(client, policy=RetryPolicy(passes=2))
    assert reply.status == 500 and reply.headers["x-should-retry"] == "false"
    message = json.loads(reply.body or b"")["error"]["message"]
    assert "'p'" in message and "$CCM_TEST_UNSET_B" in message


async def test_key_failure_moves_to_next_key_before_next_mapping() -> None:
    backup_calls = []

    def backup(request: httpx.Request) -> httpx.Response:
        backup_calls.append(1)
        return ok(request)

    _seen, handler = by_key({KEYS[0]: httpx.Response(429, json={"error": "slow"})})
    reply = await send(
        pooled(handler, keys=KEYS[:2], key_strategy="fill-first"), pooled(backup, name="q")
    )
    assert reply.status == 200 and reply.provider == "p" and backup_calls == []
    assert [a.key for a in reply.attempts] == [fingerprint(KEYS[0]), fingerprint(KEYS[1])]


async def test_5xx_is_the_providers_not_the_keys() -> None:
    seen, handler = by_key(dict.fromkeys(KEYS, httpx.Response(503, json={"error": "down"})))
    reply = await send(pooled(handler), pooled(ok, name="q"))
    assert reply.provider == "q" and sum(seen.values()) == 1  # next mapping, not next key


@pytest.mark.parametrize("stream", [False, True])
async def test_empty_200_fails_over(stream: bool) -> None:
    client = pooled(lambda r: httpx.Response(200, content=b""), keys=KEYS[:1])
    chain = (ChainEntry("p", "p-model", 0, "m"), ChainEntry("q", "q-model", 1, "m"))
    reply = await dispatch(
        {"p": client, "q": pooled(ok, name="q")},
        chain,
        {**BODY, "stream": stream},
        {},
        stream=stream,
        requested_model="claude-x",
        input_tokens=lambda: 1,
    )
    assert reply.provider == "q" and "empty" in reply.attempts[0].reason


async def test_failover_on_narrows_what_fails_over() -> None:
    busy = httpx.Response(429, json={"error": "slow"}, headers={"retry-after": "5"})
    only_5xx = pooled(lambda r: busy, keys=KEYS[:1], failover_on=["5xx"])
    reply = await send(only_5xx, pooled(ok, name="q"))
    assert reply.status == 429 and reply.provider == "p"  # went back as it came
    widened = pooled(
        lambda r: httpx.Response(404, json={"error": "no model"}), keys=KEYS[:1], failover_on=[404]
    )
    assert (await send(widened, pooled(ok, name="q"))).provider == "q"


async def test_bad_request_says_do_not_retry() -> None:
    body = {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}
    reply = await send(pooled(lambda r: httpx.Response(400, json=body), keys=KEYS[:1]))
    assert reply.status == 400 and reply.headers["x-should-retry"] == "false"


async def test_half_open_probe_slot_is_freed_when_no_key_was_sent() -> None:
    state = LocalState()
    health = Health(threshold=1, cooldown=0.0, state=state)
    health.failure("p", "500")  # open; with no cool-down the next request may probe
    client = pooled(ok, keys=KEYS[:1], state=state)
    client.keys.issued(client.keys.members[0], KEYS[0])
    client.keys.failed(KEYS[0], 429, {"retry-after": "60"})
    reply = await dispatch(
        {"p": client},
        (ChainEntry("p", "p-model", 0, "m"),),
        BODY,
        {},
        stream=False,
        requested_model="claude-x",
        input_tokens=lambda: 1,
        health=health,
    )
    assert reply.status == 429
    assert health.allow("p")  # the probe slot is free again: the key rested, nothing was sent
