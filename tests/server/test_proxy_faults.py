"""Failover along a three-provider chain, idle and per-provider timeouts, client disconnects,
a fault before the answer and a cut after it on each dialect, and `ccm start` / `ccm stop` as a
real process."""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

import httpx
import pytest

from ccm.server.run import pid_path
from tests.fakes import gemini_upstream, responses_upstream
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.responses_upstream import FakeResponsesUpstream
from tests.fakes.upstream import (
    FakeUpstream,
    cut_stream,
    garbage,
    hang,
    reply_text,
    respond,
    slow_chunks,
    stall_stream,
    status,
)
from tests.harness import ccm_process, free_port, running_ccm
from tests.proxy_setup import (
    ask,
    chain_config,
    model_toml,
    provider_toml,
    proxied,
    sdk,
    write_config,
)

REQ = {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def test_500_then_hang_then_backup(tmp_path: Path, caplog) -> None:
    with (
        FakeUpstream("anthropic") as a,
        FakeUpstream("openai") as b,
        FakeUpstream("anthropic") as c,
    ):
        a.script(status(500))
        b.script(hang(6))
        c.script(reply_text("third time lucky"))
        timeouts = "[providers.timeouts]\nfirst_byte_timeout_ms = 500\napi_timeout_ms = 500"
        chain = (("a", a, "a-1"), ("b", b, "b-1"), ("c", c, "c-1"))
        with proxied(tmp_path, *chain, extras={"b": timeouts}) as ccm, ccm.client() as client:
            t0 = time.monotonic()
            r = client.post("/v1/messages", json=REQ)
            elapsed = time.monotonic() - t0
            assert r.status_code == 200
            assert r.json()["content"][0]["text"] == "third time lucky"
            assert r.headers["x-ccm-attempts"] == "3"
            assert elapsed < 4, "the per-provider 500 ms timeout applied, not the server's 10 s"
            log = "\n".join(rec.getMessage() for rec in caplog.records)
            assert "provider a (a-1) failed: 500" in log
            assert "provider b (b-1) failed: no response within 0.5s" in log
            recent = ccm.state.recent[-1]
            assert [x["status"] for x in recent["attempts"]] == [500, None, 200]


def test_all_timeouts_give_504_naming_each_provider(tmp_path: Path) -> None:
    with FakeUpstream("anthropic") as a:
        a.default = hang(5)
        timeouts = {"a": "[providers.timeouts]\napi_timeout_ms = 300"}
        chain = (("a", a, "a-1"), ("a", a, "a-2"))
        with proxied(tmp_path, *chain, extras=timeouts) as ccm, ccm.client() as client:
            r = client.post("/v1/messages", json=REQ)
            assert r.status_code == 504
            msg = r.json()["error"]["message"]
            # the one deadline (0.3 s) bounds the first wait; setup may already have used a bit
            assert re.search(r"a \(a-1\): no response within 0\.[0-3]\d*s", msg), msg
            assert "a (a-2)" in msg


def test_idle_stream_timeout_ends_with_error_event(tmp_path: Path) -> None:
    with FakeUpstream("anthropic") as a:
        a.script(stall_stream(after_events=3, seconds=5))
        timeouts = {"a": "[providers.timeouts]\nidle_timeout_ms = 400"}
        with proxied(tmp_path, ("a", a, "a-1"), extras=timeouts) as ccm, ccm.client() as client:
            t0 = time.monotonic()
            r = client.post("/v1/messages", json={**REQ, "stream": True})
            assert time.monotonic() - t0 < 3
            lines = r.text.rstrip().splitlines()
            assert lines[-2] == "event: error"
            assert "silent" in json.loads(lines[-1][6:])["error"]["message"]


@pytest.mark.parametrize("stream", [False, True])
def test_client_disconnect_cancels_upstream(tmp_path: Path, stream: bool) -> None:
    with FakeUpstream("anthropic") as a:
        a.script(slow_chunks(["a", "b", "c", "d", "e", "f", "g", "h"], 0.5) if stream else hang(8))
        with proxied(tmp_path, ("a", a, "a-1")) as ccm:
            body = json.dumps({**REQ, "stream": stream}).encode()
            port = int(ccm.base_url.rsplit(":", 1)[1])
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(
                    b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                a.wait_for_requests(1)
                if stream:  # headers and the first event may come in separate packets
                    seen = b""
                    sock.settimeout(5)
                    while b"message_start" not in seen:
                        data = sock.recv(65536)
                        assert data, "ccm closed the stream before message_start"
                        seen += data
                time.sleep(0.3)
            # the socket is closed mid-answer: ccm must drop the upstream request too
            a.wait_until(lambda: a.requests[0].outcome == "client_gone", timeout=5)


def _ppid(proc_dir: Path) -> int | None:
    try:
        return int((proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def test_ccm_start_writes_default_config_serves_and_stops(tmp_path: Path) -> None:
    cfg = tmp_path / "home" / "config.toml"
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    ccm = [sys.executable, "-m", "ccm.cli"]
    with ccm_process(cfg, env=env) as (proc, base):
        assert httpx.get(f"{base}/health").json()["status"] == "ok"
        assert cfg.exists() and (cfg.stat().st_mode & 0o777) == 0o600
        address = base.removeprefix("http://")
        assert pid_path(cfg).read_text().split() == [str(proc.pid), address]
        out = subprocess.run(
            [*ccm, "status", "--config", str(cfg)], env=env, capture_output=True, text=True
        )
        assert out.returncode == 0 and str(proc.pid) in out.stdout
        assert f"serving on {base}" in out.stdout and "rules version 1" in out.stdout
        # a second start on the same config refuses instead of orphaning the first
        second = subprocess.run(
            [*ccm, "start", "--config", str(cfg), "--port", str(free_port())],
            env=env,
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert second.returncode == 1 and "already running" in second.stderr
        out = subprocess.run(
            [*ccm, "stop", "--config", str(cfg)],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "stopped" in out.stdout
        assert proc.wait(10) == 0
        assert not pid_path(cfg).exists()


def test_ccm_start_with_workers_serves_on_one_port(tmp_path: Path) -> None:
    with FakeUpstream("anthropic") as a:
        a.default = reply_text("from a worker")
        cfg = chain_config(tmp_path, ("a", a, "a-1"))
        with ccm_process(cfg, "--workers", "2") as (proc, base):
            with httpx.Client(base_url=base, timeout=20) as c:
                for _ in range(6):
                    r = c.post("/v1/messages", json=REQ, headers={"connection": "close"})
                    assert r.json()["content"][0]["text"] == "from a worker"
            children = [
                d.name for d in Path("/proc").iterdir() if d.name.isdigit() and _ppid(d) == proc.pid
            ]
            assert len(children) >= 2, "two worker processes"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0


def test_upstream_calls_go_through_the_configured_proxy(tmp_path: Path, monkeypatch) -> None:
    from tests.fakes.http_proxy import FakeProxy

    with FakeUpstream("anthropic") as a, FakeUpstream("anthropic") as b, FakeProxy() as proxy:
        a.default = reply_text("through the proxy")
        b.default = reply_text("direct")
        monkeypatch.setenv("CCM_TEST_PROXY", proxy.url)
        cfg = write_config(
            tmp_path / "config.toml",
            provider_toml("a", a)
            + provider_toml("b", b, extra='proxy = ""')
            + model_toml("m", ("a", "a-1"))
            + model_toml("n", ("b", "b-1")),
            server='proxy = "$CCM_TEST_PROXY"',
            router='default = "m"',
        )
        with running_ccm(cfg) as ccm, ccm.client() as c:
            assert (
                c.post("/v1/messages", json=REQ).json()["content"][0]["text"] == "through the proxy"
            )
            assert (
                c.post("/v1/messages", json={**REQ, "model": "n"}).json()["content"][0]["text"]
                == "direct"
            )
        assert [r.target for r in proxy.requests] == [f"{a.base_url}/v1/messages"]  # b opted out


def test_anthropic_stream_with_a_garbage_first_event_fails_over(tmp_path: Path) -> None:
    """Issue 12 item 6: nothing is relayed before a valid message_start, so the next
    provider answers; a malformed event after it is an error event, never relayed."""
    sse = {"content-type": "text/event-stream"}
    with FakeUpstream("anthropic") as a, FakeUpstream("anthropic") as b:
        a.script(respond(lambda req: (200, sse, b"data: {not json\n\n")))
        b.script(reply_text("from b"))
        with proxied(tmp_path, ("a", a, "a-1"), ("b", b, "b-1")) as ccm, ccm.client() as client:
            r = client.post("/v1/messages", json={**REQ, "stream": True})
            assert r.status_code == 200 and "provider=b" in r.headers["x-ccm-route"]
            assert "not json" not in r.text and r.text.endswith(
                'event: message_stop\ndata: {"type":"message_stop"}\n\n'
            )
            start = 'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"x","content":[],"usage":{"input_tokens":1,"output_tokens":1}}}\n\n'
            a.script(
                respond(
                    lambda req: (
                        200,
                        sse,
                        (start + "event: content_block_delta\ndata: {oops\n\n").encode(),
                    )
                )
            )
            r = client.post("/v1/messages", json={**REQ, "stream": True})
            assert "provider=a" in r.headers["x-ccm-route"]
            assert "data: {oops" not in r.text and "event: error" in r.text


def test_non_stream_chain_of_hanging_providers_has_one_deadline(tmp_path: Path) -> None:
    """Issue 12 item 9: N hanging providers cost one api_timeout, not N."""
    with FakeUpstream("anthropic") as a:
        a.default = hang(5)
        chain = [("a", a, f"a-{i}") for i in range(1, 5)]
        timeouts = {"a": "[providers.timeouts]\napi_timeout_ms = 600"}
        with proxied(tmp_path, *chain, extras=timeouts) as ccm, ccm.client() as client:
            t0 = time.monotonic()
            r = client.post("/v1/messages", json=REQ)
            elapsed = time.monotonic() - t0
        assert r.status_code == 504
        assert elapsed < 1.5, f"4 hanging providers took {elapsed:.1f}s (one deadline is 0.6s)"
        assert "deadline" in r.json()["error"]["message"]


# a stream cut after the answer began, per dialect: the fake, and its cut after some content
CUTS = {
    "anthropic": (
        functools.partial(FakeUpstream, "anthropic"),
        cut_stream(after_events=4, text="partial answer here"),
    ),
    "openai": (
        functools.partial(FakeUpstream, "openai"),
        cut_stream(after_events=3, text="a partial answer that is long"),
    ),
    "gemini": (FakeGemini, gemini_upstream.cut_stream(after_chunks=2, text="a partial answer")),
    "responses": (
        FakeResponsesUpstream,
        responses_upstream.cut_stream(after_events=5, text="a partial answer that is long"),
    ),
}


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "litestar"])
@pytest.mark.parametrize("dialect", CUTS)
def test_cut_mid_stream_ends_with_error_event(
    tmp_path: Path, dialect: str, fast_path: bool
) -> None:
    """Once the client has the answer's start, a cut upstream ends its stream with an error
    event naming the provider, never a message_stop."""
    fake, cut = CUTS[dialect]
    with fake() as up:
        up.script(cut)
        chain = ("primary", up, "m-1")
        with proxied(tmp_path, chain, fast_path=fast_path) as ccm, ccm.client() as c:
            r = c.post("/v1/messages", json={**REQ, "stream": True})
    lines = r.text.rstrip().splitlines()
    assert r.status_code == 200 and "event: message_start" in lines
    assert lines[-2] == "event: error"
    last = json.loads(lines[-1][len("data: ") :])
    assert last["type"] == "error" and "primary" in last["error"]["message"]
    assert "message_stop" not in r.text


HI = [{"role": "user", "content": "hi"}]

# what goes wrong before the first byte of an answer: the next provider answers instead
FAULTS = {
    "503": status(503),
    "401": status(401),
    "garbage": garbage(),
    "cut-before-first-event": cut_stream(after_events=0),
}


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "litestar"])
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
def test_a_fault_before_the_answer_fails_over_to_the_backup(
    tmp_path: Path, dialect: Literal["anthropic", "openai"], fault: str, fast_path: bool
) -> None:
    with FakeUpstream(dialect) as up, FakeUpstream(dialect) as backup:
        up.script(FAULTS[fault])
        backup.script(reply_text("backup answer"))
        chain = (("primary", up, "up-1"), ("backup", backup, "backup-1"))
        with proxied(tmp_path, *chain, fast_path=fast_path) as ccm:
            answer = ask(sdk(ccm.base_url), True, model="claude-x", max_tokens=5, messages=HI)
        assert answer.content[0].text == "backup answer"
    assert [r.json["model"] for r in backup.requests] == ["backup-1"]
