"""Several ccm processes, one picture: real `ccm start` processes, a real redis-server, fake
upstreams and a fake OAuth server on 127.0.0.1.

- two instances on one Redis: a key rested by one is not tried by the other; two instances
  needing the same OAuth refresh at once make one refresh call (with Redis, and without it
  through the file lock beside the token file); Redis killed mid-load: no request lost, and
  sharing resumes when it is back;
- `--workers 2`: after an admin write is answered, 40 of 40 requests use the new routing; 20
  of 20 OAuth sign-ins complete whichever worker gets the callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.fakes.oauth_server import FakeOAuthServer
from tests.fakes.redis_server import RedisServer
from tests.fakes.upstream import FakeUpstream, Recorded, Step, dynamic, reply_text, status
from tests.harness import ccm_process
from tests.oauth.test_oauth_proxy import seed
from tests.proxy_setup import model_toml, provider_toml, write_config

KEY_A, KEY_B, KEY_C = "sk-shared-key-aaaa", "sk-shared-key-bbbb", "sk-shared-key-cccc"
REQ = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def limited(*keys: str) -> Step:
    """429 with retry-after 120 for `keys`, an answer for any other key."""

    def choose(req: Recorded) -> Step:
        if req.headers.get("x-api-key") in keys:
            return status(429, headers={"retry-after": "120"})
        return reply_text("ok")

    return dynamic(choose)


def with_key(up: FakeUpstream, key: str) -> int:
    return sum(1 for r in up.requests if r.headers.get("x-api-key") == key)


@contextlib.contextmanager
def instances(
    tmp_path: Path,
    body: str,
    n: int = 2,
    *args: str,
    state: str = "",
    env: dict | None = None,
    procs: list | None = None,
) -> Iterator[list[str]]:
    """`n` ccm processes, each with its own copy of the config (one PID file per config);
    their base URLs (and their Popen objects in `procs`, when given)."""
    first = write_config(
        tmp_path / "config1.toml",
        body + (f'\n[state]\nurl = "{state}"\n' if state else ""),
        server='log_level = "warning"\nretries = 0',
        router='default = "m"',
    )
    paths = [first]
    for i in range(2, n + 1):
        paths.append(Path(shutil.copy(first, tmp_path / f"config{i}.toml")))
    with contextlib.ExitStack() as stack:
        started = [
            stack.enter_context(ccm_process(p, *args, env={**os.environ, **(env or {})}))
            for p in paths
        ]
        if procs is not None:
            procs.extend(proc for proc, _ in started)
        yield [base for _, base in started]


def wait_shared(base: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while httpx.get(f"{base}/api/status").json()["state"].get("shared") is not True:
        if time.monotonic() > deadline:
            raise AssertionError(f"{base} does not share its state")
        time.sleep(0.05)


def test_a_key_rested_by_one_instance_is_not_tried_by_the_other(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as redis, FakeUpstream("anthropic") as up:
        up.default = limited(KEY_A)
        pool = f'api_keys = ["{KEY_B}"]\nkey_strategy = "fill-first"'
        body = provider_toml("p", up, key=KEY_A, extra=pool) + model_toml("m", ("p", "p-1"))
        with instances(tmp_path, body, state=redis.url) as (one, two):
            wait_shared(one)
            wait_shared(two)
            assert httpx.post(f"{one}/v1/messages", json=REQ).status_code == 200
            assert with_key(up, KEY_A) == 1  # rested by the first instance...
            time.sleep(0.3)  # (published to the other at once; this is generous)
            for _ in range(10):
                assert httpx.post(f"{two}/v1/messages", json=REQ).status_code == 200
            assert with_key(up, KEY_A) == 1  # ...and not tried by the second
            keys = httpx.get(f"{two}/api/status").json()["providers"][0]["keys"]
            assert [k["state"] for k in keys] == ["resting", "ok"]
            assert KEY_A not in str(keys)


@pytest.mark.parametrize("shared", ["redis", "file-lock"])
def test_two_instances_refresh_an_oauth_token_once(tmp_path: Path, shared: str) -> None:
    tokens = tmp_path / "tokens.json"
    with (
        RedisServer(tmp_path / "redis") as redis,
        FakeOAuthServer(client_id="cid", refresh_delay=0.5) as oauth,
        FakeUpstream("anthropic") as up,
    ):
        env = {
            "CCM_OAUTH_TOKENS": str(tokens),
            "CCM_OAUTH_CLAUDE_MAX_CLIENT_ID": "cid",
            "CCM_OAUTH_CLAUDE_MAX_TOKEN_URL": oauth.token_url,
        }
        seed(
            tokens,
            "acct",
            "at-old",
            oauth.issue_refresh_token(),
            timedelta(minutes=1),
            "claude-max",
        )
        body = (
            f'\n[[providers]]\nname = "max"\nprovider_type = "anthropic"\nauth_type = "oauth"\n'
            f'oauth_provider = "acct"\nbase_url = "{up.base_url}"\n'
            + model_toml("m", ("max", "c-1"))
        )
        url = redis.url if shared == "redis" else ""
        with instances(tmp_path, body, state=url, env=env) as bases:
            results: list[int] = []

            def send(base: str) -> None:
                results.append(httpx.post(f"{base}/v1/messages", json=REQ, timeout=20).status_code)

            threads = [threading.Thread(target=send, args=(b,)) for b in bases * 2]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert results == [200] * 4
        assert oauth.refresh_calls == 1
        sent = {r.headers["authorization"] for r in up.requests}
        assert len(sent) == 1 and "at-old" not in next(iter(sent))


async def _drive(bases: list[str], n: int, concurrency: int) -> list[int | str]:
    sem = asyncio.Semaphore(concurrency)
    clients = [httpx.AsyncClient(base_url=b, timeout=30) for b in bases]

    async def one(i: int) -> int | str:
        async with sem:
            try:
                r = await clients[i % len(clients)].post("/v1/messages", json=REQ)
            except httpx.HTTPError as e:
                return type(e).__name__
            return r.status_code

    try:
        return await asyncio.gather(*(one(i) for i in range(n)))
    finally:
        for c in clients:
            await c.aclose()


def test_redis_killed_mid_load_loses_nothing_and_sharing_resumes(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as redis, FakeUpstream("anthropic") as up:
        up.default = limited(KEY_A)
        pool = f'api_keys = ["{KEY_B}", "{KEY_C}"]'
        body = provider_toml("p", up, key=KEY_A, extra=pool) + model_toml("m", ("p", "p-1"))
        with instances(tmp_path, body, state=redis.url) as bases:
            for b in bases:
                wait_shared(b)
            outage: dict[str, float] = {}

            def outage_mid_load() -> None:
                up.wait_for_requests(300, timeout=60)
                redis.kill()
                outage["killed"] = time.monotonic()
                time.sleep(1.5)
                redis.start()  # same port, empty
                outage["back"] = time.monotonic()

            killer = threading.Thread(target=outage_mid_load)
            killer.start()
            results = asyncio.run(_drive(bases, 1500, 20))
            killer.join()
            assert results == [200] * 1500, {str(r) for r in results}
            assert "killed" in outage and "back" in outage
            # the limited key is rested at its first 429 and skipped by both instances: it sees
            # only the requests already on their way then (up to the concurrency), not its
            # third of 1,500
            assert with_key(up, KEY_A) <= 25
            for b in bases:
                wait_shared(b)
            # sharing resumed: a rest made now by one instance reaches the other
            up.default = limited(KEY_A, KEY_B)
            before = with_key(up, KEY_B)
            for _ in range(3):
                assert httpx.post(f"{bases[0]}/v1/messages", json=REQ).status_code == 200
            assert with_key(up, KEY_B) == before + 1
            time.sleep(0.3)
            for _ in range(6):
                assert httpx.post(f"{bases[1]}/v1/messages", json=REQ).status_code == 200
            assert with_key(up, KEY_B) == before + 1


def test_workers_apply_an_admin_write_before_it_is_answered(tmp_path: Path) -> None:
    with FakeUpstream("anthropic") as old, FakeUpstream("anthropic") as new:
        old.default, new.default = reply_text("old"), reply_text("new")
        body = (
            provider_toml("old", old)
            + provider_toml("new", new)
            + model_toml("m", ("old", "o-1"))
            + model_toml("m2", ("new", "n-1"))
        )
        claude = {**REQ, "model": "claude-sonnet-4-5"}  # routed by [router] default
        with instances(tmp_path, body, 1, "--workers", "2") as (base,):
            for _ in range(20):  # new connections: both workers serve
                r = httpx.post(f"{base}/v1/messages", json=claude)
                assert r.json()["content"][0]["text"] == "old"
            r = httpx.put(f"{base}/api/router", json={"default": "m2"})
            assert r.status_code == 200, r.text
            texts = [
                httpx.post(f"{base}/v1/messages", json=claude).json()["content"][0]["text"]
                for _ in range(40)
            ]
            assert texts == ["new"] * 40


def test_workers_complete_every_oauth_sign_in(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    with FakeOAuthServer(client_id="cid", client_secret="sec") as oauth:
        env = {
            "CCM_OAUTH_TOKENS": str(tokens),
            "CCM_OAUTH_GOOGLE_CLIENT_ID": "cid",
            "CCM_OAUTH_GOOGLE_CLIENT_SECRET": "sec",
            "CCM_OAUTH_GOOGLE_AUTHORIZE_URL": oauth.authorize_url,
            "CCM_OAUTH_GOOGLE_TOKEN_URL": oauth.token_url,
            "CCM_OAUTH_GOOGLE_CODE_ASSIST_URL": oauth.code_assist_url,
        }
        body = (
            '\n[[providers]]\nname = "p"\nprovider_type = "anthropic"\napi_key = "sk-x-unused"\n'
            'base_url = "http://127.0.0.1:9"\n' + model_toml("m", ("p", "p-1"))
        )
        with instances(tmp_path, body, 1, "--workers", "2", env=env) as (base,):
            done = 0
            for i in range(20):
                r = httpx.post(
                    f"{base}/api/oauth/authorize",
                    json={"oauth_type": "gemini", "provider_id": f"acct-{i}"},
                )
                assert r.status_code == 200, r.text
                _code, _state, location = oauth.authorize(r.json()["url"])
                page = httpx.get(location)  # a new connection: either worker
                done += page.status_code == 200 and "Signed in" in page.text
            assert done == 20
        logins = tokens.with_name(tokens.name + ".logins")
        assert (logins.stat().st_mode & 0o777) == 0o600
        assert oauth.exchange_calls == 20


def test_workers_without_redis_say_what_is_per_worker(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.harness import free_port, wait_healthy

    body = (
        '\n[[providers]]\nname = "p"\nprovider_type = "anthropic"\napi_key = "sk-x-unused"\n'
        'base_url = "http://127.0.0.1:9"\n' + model_toml("m", ("p", "p-1"))
    )
    cfg = write_config(tmp_path / "config.toml", body, router='default = "m"')
    port = free_port()
    args = ["start", "--config", str(cfg), "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccm.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "circuit breakers and key rests are per worker" in out
    assert "[state] url" in out
