"""Issue 15's acceptance, end to end: a real ccm on a socket against fake upstreams (one
Anthropic pass-through, one translated OpenAI), `ccm usage`, `ccm statusline` and /metrics as a
user runs them, a restart, and a ledger path that cannot be written."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.fakes.upstream import FakeUpstream, reply_text
from tests.harness import running_ccm, wait_until
from tests.ledger import traffic
from tests.ledger.traffic import SESSION_A, SESSION_B, USAGE
from tests.proxy_setup import model_toml, provider_toml, upstream_fixture, write_config

anth = upstream_fixture("anthropic", reply_text("hello", usage=USAGE))
oai = upstream_fixture("openai", reply_text("hello", usage=USAGE))


@pytest.fixture
def config(tmp_path: Path, anth: FakeUpstream, oai: FakeUpstream) -> Path:
    return write_config(
        tmp_path / "config.toml",
        provider_toml("anth", anth)
        + provider_toml("oai", oai)
        + model_toml("sonnet", ("anth", "claude-upstream-1"))
        + model_toml("gpt", ("oai", "gpt-upstream-2")),
        router='default = "sonnet"',
    )


def send(base: str, model: str, session: str, stream: bool) -> httpx.Response:
    r = traffic.send(base, model, session, stream)
    assert r.status_code == 200, r.text
    if stream:
        assert "message_stop" in r.text
    return r


def run_ccm(config: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ccm", *args, "--config", str(config)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def usage_json(config: Path, *args: str) -> dict:
    done = run_ccm(config, "usage", "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def metric(text: str, name: str) -> float:
    """The sum of every sample of one metric family in Prometheus text."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in "{ "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def twenty_requests(base: str) -> None:
    for i in range(10):
        send(base, "sonnet", SESSION_A, stream=i % 2 == 0)  # pass-through upstream
        send(base, "gpt", SESSION_B, stream=i % 2 == 1)  # translated upstream


def test_twenty_requests_usage_metrics_statusline_and_restart(config: Path) -> None:
    with running_ccm(config) as ccm:
        twenty_requests(ccm.base_url)
        assert ccm.state.ledger.flush()
        scrape = httpx.get(f"{ccm.base_url}/metrics", timeout=10)
        assert scrape.status_code == 200
        assert scrape.headers["content-type"].startswith("text/plain")
        assert metric(scrape.text, "ccm_requests_total") == 20
        assert metric(scrape.text, "ccm_upstream_attempts_total") == 20
        assert 'ccm_tokens_total{kind="input",model="claude-upstream-1",provider="anth"} 120.0' in (
            scrape.text
        )
        assert metric(scrape.text, "ccm_in_flight_requests") == 0

    data = usage_json(config)
    assert data["totals"] == {
        "requests": 20,
        "input_tokens": 240,
        "output_tokens": 180,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cost_usd": None,  # made-up model names: no known price, so null and not 0
    }
    by_session = {r["session"]: r for r in usage_json(config, "--by", "session")["rows"]}
    assert by_session[SESSION_A]["requests"] == by_session[SESSION_B]["requests"] == 10
    by_model = {r["model"]: r for r in usage_json(config, "--by", "model")["rows"]}
    assert set(by_model) == {"claude-upstream-1", "gpt-upstream-2"}
    assert by_model["gpt-upstream-2"]["input_tokens"] == 120
    assert by_model["gpt-upstream-2"]["unpriced_requests"] == 10

    line = run_ccm(config, "statusline", stdin=json.dumps({"session_id": SESSION_B}))
    assert line.returncode == 0 and not line.stderr
    assert "oai / gpt-upstream-2" in line.stdout
    assert "240 in" not in line.stdout and "120 in, 90 out" in line.stdout
    other = run_ccm(config, "statusline", stdin=json.dumps({"session_id": SESSION_A}))
    assert "anth / claude-upstream-1" in other.stdout

    # a restart: the totals are kept and grow
    with running_ccm(config) as ccm:
        send(ccm.base_url, "sonnet", SESSION_A, stream=True)
        send(ccm.base_url, "gpt", SESSION_B, stream=False)
    totals = usage_json(config)["totals"]
    assert (totals["requests"], totals["input_tokens"], totals["output_tokens"]) == (22, 264, 198)


def test_rows_carry_route_timing_and_request_id(config: Path) -> None:
    import sqlite3

    with running_ccm(config) as ccm:
        r = send(ccm.base_url, "gpt", SESSION_B, stream=True)
        rid = r.headers["x-ccm-request-id"]
        assert ccm.state.ledger.flush()
    db = sqlite3.connect(config.parent / "usage.db")
    db.row_factory = sqlite3.Row
    row = db.execute("SELECT * FROM requests WHERE request_id = ?", (rid,)).fetchone()
    assert row["session_id"] == SESSION_B
    assert row["rule"] == "default" and row["model"] == "gpt"
    assert row["requested_model"] == "gpt"
    assert (row["provider"], row["actual_model"]) == ("oai", "gpt-upstream-2")
    assert row["status"] == 200 and row["stream"] == 1 and row["error_type"] is None
    assert row["attempt_count"] == 1 and row["failover"] == 0
    assert json.loads(row["attempts"])[0]["provider"] == "oai"
    assert 0 < row["ttfb_ms"] <= row["total_ms"]
    # the client's key is kept as a fingerprint only
    assert row["client_key"] and len(row["client_key"]) == 8
    assert "sk-client" not in json.dumps(dict(row))
    from ccm.config.secrets import fingerprint

    assert row["provider_key"] == fingerprint("sk-upstream")  # the upstream key, by fingerprint


def test_read_only_ledger_path_loses_no_request(
    tmp_path: Path, anth: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the ledger's folder should be\n")
    cfg = write_config(
        tmp_path / "config.toml",
        provider_toml("anth", anth)
        + model_toml("sonnet", ("anth", "claude-upstream-1"))
        + f'\n[ledger]\npath = "{blocker}/usage.db"\n',
        router='default = "sonnet"',
    )
    caplog.set_level(logging.WARNING, logger="ccm.ledger")
    with running_ccm(cfg) as ccm:
        for i in range(6):
            send(ccm.base_url, "sonnet", SESSION_A, stream=i % 2 == 0)
            assert ccm.state.ledger.flush()  # one batch per request: the warning stays single
        scrape = httpx.get(f"{ccm.base_url}/metrics", timeout=10).text
        assert metric(scrape, "ccm_requests_total") == 6
        assert metric(scrape, "ccm_ledger_rows_dropped_total") == 6
        assert ccm.state.ledger.dropped == 6
    warnings = [r for r in caplog.records if "cannot be written" in r.getMessage()]
    assert len(warnings) == 1
    assert len(anth.requests) == 6


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "litestar"])
def test_client_gone_mid_stream_is_a_499_row(
    config: Path, anth: FakeUpstream, fast_path: bool
) -> None:
    import sqlite3

    from tests.fakes.upstream import slow_chunks

    anth.script(slow_chunks(["one ", "two ", "three ", "four ", "five"], 0.3, usage=USAGE))
    with running_ccm(config, fast_path=fast_path) as ccm:
        body = traffic.body("sonnet", SESSION_A, stream=True, max_tokens=10)
        with httpx.stream("POST", f"{ccm.base_url}/v1/messages", json=body, timeout=10) as r:
            for chunk in r.iter_raw():
                if b"message_start" in chunk:
                    break  # hang up after the first event
        wait_until(lambda: not ccm.state.ledger.in_flight, 5, what="the request to end")
        assert ccm.state.ledger.flush()
    db = sqlite3.connect(config.parent / "usage.db")
    status, err, stream, inp, ttfb = db.execute(
        "SELECT status, error_type, stream, input_tokens, ttfb_ms FROM requests"
    ).fetchone()
    assert (status, err, stream) == (499, "client_closed", 1)
    assert inp == 12  # message_start had gone out: its input count is kept
    assert ttfb is not None


def test_everything_off_records_nothing(tmp_path: Path, anth: FakeUpstream) -> None:
    cfg = write_config(
        tmp_path / "config.toml",
        provider_toml("anth", anth)
        + model_toml("sonnet", ("anth", "claude-upstream-1"))
        + "\n[ledger]\nenabled = false\n\n[metrics]\nenabled = false\n",
        router='default = "sonnet"',
    )
    with running_ccm(cfg) as ccm:
        assert not ccm.state.ledger.active
        r = send(ccm.base_url, "sonnet", SESSION_A, stream=True)
        assert "x-ccm-request-id" not in r.headers
        send(ccm.base_url, "sonnet", SESSION_A, stream=False)
        assert len(ccm.state.ledger.thread.pending) == 0
    assert not (tmp_path / "usage.db").exists()
    done = run_ccm(cfg, "usage")
    assert done.returncode == 1 and "no usage ledger" in done.stderr
