"""Reliability: circuit breakers, proxy auth, secrets never logged, bad input fuzzing,
oversized bodies, graceful shutdown."""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccm.health import Health
from tests.fakes.upstream import FakeUpstream, dynamic, echo, reply_text, slow_chunks, status
from tests.harness import ccm_process, running_ccm
from tests.proxy_setup import model_toml, provider_toml, write_config

REQ = {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def test_breaker_unit_opens_half_opens_and_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("ccm.health.time.time", lambda: now[0])
    h = Health(threshold=2, cooldown=10)
    assert h.allow("a")
    h.failure("a", "500")
    assert h.allow("a") and not h.is_open("a")
    h.failure("a", "500")
    assert h.is_open("a") and not h.allow("a")
    now[0] += 10
    assert h.allow("a")  # half-open: one probe
    assert not h.allow("a")  # ...only one
    h.failure("a", "still down")
    assert not h.allow("a")  # open again for a full cool-down
    now[0] += 10
    assert h.allow("a")
    h.success("a")
    assert not h.is_open("a") and h.allow("a") and h.allow("a")
    assert h.snapshot("a")["circuit"] == "closed"


def test_open_circuit_is_skipped_and_shown_in_status(tmp_path: Path) -> None:
    with FakeUpstream("anthropic") as a, FakeUpstream("anthropic") as b:
        a.default = status(500)
        b.default = reply_text("b answers")
        cfg = write_config(
            tmp_path / "config.toml",
            provider_toml("a", a)
            + provider_toml("b", b)
            + model_toml("m", ("a", "a-1"), ("b", "b-1")),
            server="retries = 0\ncircuit_failures = 2\ncircuit_cooldown_ms = 800",
            router='default = "m"',
        )
        with running_ccm(cfg) as ccm, httpx.Client(base_url=ccm.base_url, timeout=20) as c:
            for _ in range(2):
                assert c.post("/v1/messages", json=REQ).status_code == 200
            assert len(a.requests) == 2
            r = c.post("/v1/messages", json=REQ)
            assert r.status_code == 200 and len(a.requests) == 2  # a's circuit is open: skipped
            assert ccm.state.recent[-1]["attempts"][0]["reason"] == "skipped: circuit open"
            health = {p["name"]: p["health"] for p in c.get("/api/status").json()["providers"]}
            assert health["a"]["circuit"] == "open" and health["a"]["consecutive_failures"] == 2
            assert health["b"]["circuit"] == "closed"
            time.sleep(0.9)
            a.default = reply_text("a is back")
            r = c.post("/v1/messages", json=REQ)  # half-open probe goes to a, and succeeds
            assert r.json()["content"][0]["text"] == "a is back"
            assert c.get("/api/status").json()["providers"][0]["health"]["circuit"] == "closed"


def test_all_circuits_open_answers_at_once_with_the_probe_time(tmp_path: Path) -> None:
    """Every provider's circuit open: an immediate 529 whose retry-after is the time left to
    the half-open probe (Claude Code waits on its own), no upstream call; after the cool-down
    the probe goes through."""
    with FakeUpstream("anthropic") as a:
        a.default = status(500)
        cfg = write_config(
            tmp_path / "config.toml",
            provider_toml("a", a) + model_toml("m", ("a", "a-1")),
            server="retries = 0\ncircuit_failures = 1\ncircuit_cooldown_ms = 1500",
            router='default = "m"',
        )
        with running_ccm(cfg) as ccm, httpx.Client(base_url=ccm.base_url, timeout=20) as c:
            assert c.post("/v1/messages", json=REQ).status_code == 500
            a.default = reply_text("ok")
            t0 = time.monotonic()
            r = c.post("/v1/messages", json=REQ)
            assert time.monotonic() - t0 < 0.5
            assert r.status_code == 529 and r.json()["error"]["type"] == "overloaded_error"
            assert r.headers["retry-after"] in ("1", "2")
            assert len(a.requests) == 1  # no upstream call while the circuit is open
            time.sleep(1.6)
            assert c.post("/v1/messages", json=REQ).status_code == 200  # the probe


def test_proxy_api_key_required_when_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCM_TEST_PROXY_KEY", "proxy-secret-1")
    with FakeUpstream("anthropic") as a:
        a.default = echo()
        cfg = write_config(
            tmp_path / "config.toml",
            provider_toml("a", a) + model_toml("m", ("a", "a-1")),
            server='api_key = "$CCM_TEST_PROXY_KEY"',
            router='default = "m"',
        )
        with running_ccm(cfg) as ccm, httpx.Client(base_url=ccm.base_url, timeout=20) as c:
            r = c.post("/v1/messages", json=REQ)
            assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
            assert (
                c.post("/v1/messages", json=REQ, headers={"x-api-key": "wrong"}).status_code == 401
            )
            assert (
                c.post(
                    "/v1/messages", json=REQ, headers={"x-api-key": "proxy-secret-1"}
                ).status_code
                == 200
            )
            assert (
                c.post(
                    "/v1/messages", json=REQ, headers={"authorization": "Bearer proxy-secret-1"}
                ).status_code
                == 200
            )
            assert c.post("/v1/messages/count_tokens", json=REQ).status_code == 401
            # the client's key is ccm's business: it never reaches the upstream
            assert all("proxy-secret-1" not in json.dumps(r.headers) for r in a.requests)


def test_secrets_never_in_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    planted_env = "sk-planted-env-SECRET-7f3a"
    planted_literal = "sk-planted-literal-SECRET-91bc"
    monkeypatch.setenv("CCM_TEST_PLANTED", planted_env)
    caplog.set_level(logging.DEBUG)
    with FakeUpstream("openai") as a, FakeUpstream("anthropic") as b:
        a.script(status(401), status(500))
        b.default = reply_text("fine")
        cfg = write_config(
            tmp_path / "config.toml",
            provider_toml("a", a, key="$CCM_TEST_PLANTED")
            + provider_toml("b", b, key=planted_literal)
            + model_toml("m", ("a", "a-1"), ("b", "b-1")),
            router='default = "m"',
        )
        with running_ccm(cfg) as ccm, httpx.Client(base_url=ccm.base_url, timeout=20) as c:
            for stream in (False, True):
                assert (
                    c.post(
                        "/v1/messages",
                        json={**REQ, "stream": stream},
                        headers={"x-api-key": "client-key-SECRET"},
                    ).status_code
                    == 200
                )
            c.post("/v1/messages", content=b"{bad json")
            answers = [
                c.get(p).text
                for p in ("/api/status", "/api/config", "/api/providers", "/api/logs", "/health")
            ]
    logged = "\n".join(r.getMessage() + str(r.args) for r in caplog.records) + caplog.text
    assert "provider a" in logged  # the failover was logged...
    for secret in (planted_env, planted_literal, "client-key-SECRET"):
        assert secret not in logged  # ...without any key
        assert all(secret not in text for text in answers)


@pytest.fixture(scope="module")
def fuzz_ccm(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("fuzz")
    with FakeUpstream("openai") as oa, FakeUpstream("anthropic") as an:
        oa.default = reply_text("ok")
        an.default = reply_text("ok")
        cfg = write_config(
            tmp / "config.toml",
            provider_toml("oa", oa)
            + provider_toml("an", an)
            + model_toml("m", ("oa", "o-1"))
            + model_toml("n", ("an", "a-1")),
            server="max_body_bytes = 200000",
            router='default = "m"\nauto_map_regex = "^(claude-|x)"',
        )
        with running_ccm(cfg) as ccm, httpx.Client(base_url=ccm.base_url, timeout=20) as c:
            yield c


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
block = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            [
                "text",
                "image",
                "tool_use",
                "tool_result",
                "thinking",
                "document",
                "server_tool_use",
                "mystery",
            ]
        )
    },
    optional={
        "text": json_values,
        "content": json_values,
        "input": json_values,
        "id": json_values,
        "source": json_values,
        "tool_use_id": json_values,
    },
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["m", "n", "claude-x", "unknown"]) | json_values,
        "max_tokens": st.integers(-5, 100_000) | json_values,
        "messages": st.lists(
            st.fixed_dictionaries(
                {"role": st.sampled_from(["user", "assistant", "system", "tool"]) | json_values},
                optional={
                    "content": st.text(max_size=20) | st.lists(block, max_size=3) | json_values
                },
            ),
            max_size=4,
        )
        | json_values,
        "system": st.text(max_size=20) | st.lists(block, max_size=2) | json_values,
        "tools": st.lists(
            st.dictionaries(
                st.sampled_from(["name", "type", "input_schema", "description"]), json_values
            ),
            max_size=3,
        )
        | json_values,
        "tool_choice": json_values,
        "thinking": json_values,
        "stream": st.booleans() | json_values,
        "stop_sequences": json_values,
        "temperature": json_values,
    },
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=bodies | json_values)
def test_fuzz_bodies_never_5xx_from_ccm(fuzz_ccm: httpx.Client, body: object) -> None:
    r = fuzz_ccm.post(
        "/v1/messages",
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        err = r.json()
        assert err["type"] == "error" and err["error"]["message"]
    elif r.headers["content-type"].startswith("text/event-stream"):
        assert "event: message_stop" in r.text or "event: error" in r.text


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(raw=st.binary(max_size=300))
def test_fuzz_raw_bytes(fuzz_ccm: httpx.Client, raw: bytes) -> None:
    r = fuzz_ccm.post("/v1/messages", content=raw, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500 or r.status_code == 200
    assert fuzz_ccm.get("/health").status_code == 200


def test_oversized_body_is_413_and_absurd_headers_are_refused(fuzz_ccm: httpx.Client) -> None:
    big = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x" * 300_000}]}
    r = fuzz_ccm.post("/v1/messages", json=big)
    assert r.status_code == 413 and r.json()["error"]["type"] == "request_too_large"
    try:
        r = fuzz_ccm.post("/v1/messages", json=REQ, headers={"x-huge": "a" * 200_000})
        assert r.status_code == 431 and r.json()["type"] == "error"
    except httpx.HTTPError:
        pass  # the server may drop such a connection outright; it must keep serving
    assert fuzz_ccm.get("/health").status_code == 200


def test_unknown_block_types_pass_through_to_anthropic_upstreams(fuzz_ccm: httpx.Client) -> None:
    body = {
        "model": "n",
        "max_tokens": 5,
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "search_result",
                        "source": "s",
                        "title": "t",
                        "content": [{"type": "text", "text": "x"}],
                    }
                ],
            }
        ],
    }
    assert fuzz_ccm.post("/v1/messages", json=body).status_code == 200


def test_sigterm_lets_inflight_stream_finish(tmp_path: Path) -> None:
    with FakeUpstream("anthropic") as a:
        a.default = slow_chunks(["one ", "two ", "three ", "four"], 0.4)
        cfg = write_config(
            tmp_path / "config.toml",
            provider_toml("a", a) + model_toml("m", ("a", "a-1")),
            router='default = "m"',
        )
        with ccm_process(cfg) as (proc, base):
            with (
                httpx.Client(timeout=20) as c,
                c.stream("POST", f"{base}/v1/messages", json={**REQ, "stream": True}) as r,
            ):
                it = r.iter_text()
                got = next(it)
                os.kill(proc.pid, signal.SIGTERM)
                got += "".join(it)
            assert "event: message_stop" in got and "four" in got
            assert proc.wait(15) == 0


# ---- key pools through a real ccm (issue 14's acceptance; decisions in tests/providers) ----

POOL = ["sk-pool-key-aaaa-1", "sk-pool-key-bbbb-2", "sk-pool-key-cccc-3"]


def _pool_config(tmp_path: Path, up: FakeUpstream) -> Path:
    keys = ", ".join(f'"{k}"' for k in POOL[1:])
    return write_config(
        tmp_path / "config.toml",
        provider_toml("p", up, key=POOL[0], extra=f"api_keys = [{keys}]")
        + model_toml("m", ("p", "p-1")),
        router='default = "m"',
    )


def _limit(*keys: str):
    def choose(req):
        if req.headers.get("x-api-key") in keys:
            return status(429, headers={"retry-after": "120"})
        return reply_text("ok")

    return dynamic(choose)


def test_pool_of_three_with_one_limited_key(tmp_path: Path) -> None:
    with FakeUpstream("anthropic") as up:
        up.default = _limit(POOL[1])
        with running_ccm(_pool_config(tmp_path, up)) as ccm:
            with httpx.Client(base_url=ccm.base_url, timeout=20) as c:
                codes = [c.post("/v1/messages", json=REQ).status_code for _ in range(30)]
            keys = [p["keys"] for p in httpx.get(f"{ccm.base_url}/api/status").json()["providers"]]
    assert codes == [200] * 30
    used = {k: sum(1 for r in up.requests if r.headers["x-api-key"] == k) for k in POOL}
    assert used[POOL[1]] <= 2  # rested at its first 429
    assert used[POOL[0]] + used[POOL[2]] == 30 and abs(used[POOL[0]] - used[POOL[2]]) <= 1
    assert [k["state"] for k in keys[0]] == ["ok", "resting", "ok"]
    assert not any(k in json.dumps(keys) for k in POOL)  # fingerprints only


def test_every_key_limited_answers_at_once_and_asks_no_upstream(tmp_path: Path) -> None:
    with FakeUpstream("anthropic") as up:
        up.default = _limit(*POOL)
        with (
            running_ccm(_pool_config(tmp_path, up)) as ccm,
            httpx.Client(base_url=ccm.base_url, timeout=20) as c,
        ):
            t0 = time.monotonic()
            r = c.post("/v1/messages", json=REQ)
            took = time.monotonic() - t0
            assert r.status_code == 429 and took < 1, (r.status_code, took)
            assert r.json()["error"]["type"] == "rate_limit_error"
            assert 1 <= int(r.headers["retry-after"]) <= 30
            asked = len(up.requests)
            assert asked == 3
            again = c.post("/v1/messages", json=REQ)
            assert again.status_code == 429 and int(again.headers["retry-after"]) <= 30
            assert len(up.requests) == asked  # resting: no upstream call


def test_admin_echo_of_a_pool_keeps_its_keys(tmp_path: Path) -> None:
    """The admin API shows a pool's literal keys masked; a provider echoed back with them
    masked keeps the stored keys (and the file stays 0600: it holds literal keys)."""
    with FakeUpstream("anthropic") as up:
        cfg = _pool_config(tmp_path, up)
        with running_ccm(cfg) as ccm, httpx.Client(base_url=ccm.base_url, timeout=20) as c:
            (shown,) = c.get("/api/providers").json()
            assert shown["api_keys"] == ["********", "********"]
            assert not any(k in json.dumps(shown) for k in POOL)
            shown["key_strategy"] = "fill-first"
            r = c.put("/api/providers/p", json=shown)
            assert r.status_code == 200, r.text
            text = cfg.read_text()
            assert all(k in text for k in POOL) and "********" not in text
            assert (cfg.stat().st_mode & 0o777) == 0o600
            shown["api_keys"] = ["********"]  # masked, but not the stored number of keys
            assert c.put("/api/providers/p", json=shown).status_code == 400


@pytest.mark.parametrize("fast_path", [True, False])
def test_answers_a_retry_cannot_fix_say_so(tmp_path: Path, fast_path: bool) -> None:
    """Claude Code retries 4xx/5xx answers for minutes unless told `x-should-retry: false`."""
    with FakeUpstream("anthropic") as up:
        up.default = status(401)
        cfg = _pool_config(tmp_path, up)
        with (
            running_ccm(cfg, fast_path=fast_path) as ccm,
            httpx.Client(base_url=ccm.base_url, timeout=20) as c,
        ):
            bad = c.post("/v1/messages", content=b"{not json")
            assert bad.status_code == 400 and bad.headers["x-should-retry"] == "false"
            unknown = c.post("/v1/messages", json={**REQ, "model": "no-such-model-x"})
            assert unknown.headers.get("x-should-retry") == "false"
            refused = c.post("/v1/messages", json=REQ)  # every key of the pool: 401
            assert refused.status_code == 401 and refused.headers["x-should-retry"] == "false"
            assert refused.json()["error"]["type"] == "authentication_error"
            assert len(up.requests) == 3
            again = c.post("/v1/messages", json=REQ)  # removed keys: ccm answers itself
            assert again.status_code == 401 and len(up.requests) == 3
