"""GET /metrics: Prometheus text, guarded like the admin API or by [metrics] token; summed
over workers under `ccm start --workers N`."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.fakes.upstream import FakeUpstream, reply_text, status
from tests.harness import ccm_process, running_ccm
from tests.proxy_setup import model_toml, provider_toml, upstream_fixture, write_config

up = upstream_fixture("anthropic", reply_text("hi", usage={"input_tokens": 12, "output_tokens": 9}))


def config(tmp_path: Path, up: FakeUpstream, server: str = "", extra: str = "") -> Path:
    return write_config(
        tmp_path / "config.toml",
        provider_toml("anth", up) + model_toml("m", ("anth", "claude-up")) + extra,
        router='default = "m"',
        server=server,
    )


def post(base: str, stream: bool = False) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/messages",
        json={
            "model": "claude-x",
            "max_tokens": 5,
            "stream": stream,
            "messages": [{"role": "user", "content": "hi"}],
        },
        timeout=10,
    )


def sample(text: str, prefix: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
    )


def test_families_and_labels(tmp_path: Path, up: FakeUpstream) -> None:
    with running_ccm(config(tmp_path, up)) as ccm:
        assert post(ccm.base_url).status_code == 200
        assert post(ccm.base_url, stream=True).status_code == 200
        up.script(status(500), status(500))  # both passes over the chain fail
        assert post(ccm.base_url).status_code == 500
        text = httpx.get(f"{ccm.base_url}/metrics", timeout=10).text
    assert (
        sample(text, 'ccm_requests_total{model="m",provider="anth",rule="default",status="200"}')
        == 2
    )
    assert (
        sample(text, 'ccm_requests_total{model="m",provider="-",rule="default",status="500"}') == 1
    )
    assert sample(text, 'ccm_upstream_attempts_total{provider="anth",result="ok"}') == 2
    assert sample(text, 'ccm_upstream_attempts_total{provider="anth",result="500"}') == 2
    assert sample(text, 'ccm_tokens_total{kind="output",model="claude-up",provider="anth"}') == 18
    assert sample(text, 'ccm_request_duration_seconds_count{provider="anth"}') == 2
    assert sample(text, 'ccm_first_byte_seconds_count{provider="anth"}') == 2
    assert 'ccm_circuit_state{provider="anth"} 0.0' in text
    assert "ccm_in_flight_requests 0.0" in text
    assert "ccm_ledger_rows_dropped_total 0.0" in text
    assert "# TYPE ccm_cost_usd_total counter" in text


def test_guard_admin_token_and_metrics_token(
    tmp_path: Path, up: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCM_TEST_METRICS_TOKEN", "scrape-secret")
    cfg = config(
        tmp_path,
        up,
        server='admin_token = "admin-secret"',
        extra='\n[metrics]\ntoken = "$CCM_TEST_METRICS_TOKEN"\n',
    )
    with running_ccm(cfg) as ccm:
        url = f"{ccm.base_url}/metrics"
        denied = httpx.get(url, timeout=10)
        assert denied.status_code == 401
        assert denied.json()["type"] == "error"
        assert "scrape-secret" not in denied.text and "admin-secret" not in denied.text
        assert (
            httpx.get(url, headers={"authorization": "Bearer wrong"}, timeout=10).status_code == 401
        )
        ok = httpx.get(url, headers={"authorization": "Bearer scrape-secret"}, timeout=10)
        assert ok.status_code == 200 and "ccm_requests_total" in ok.text
        assert (
            httpx.get(url, headers={"x-ccm-metrics-token": "scrape-secret"}, timeout=10).status_code
            == 200
        )
        assert (
            httpx.get(url, headers={"x-ccm-admin-token": "admin-secret"}, timeout=10).status_code
            == 200
        )
        # the metrics token opens /metrics only, not the admin API
        api = httpx.get(
            f"{ccm.base_url}/api/config",
            headers={"authorization": "Bearer scrape-secret"},
            timeout=10,
        )
        assert api.status_code == 401


def test_metrics_off(tmp_path: Path, up: FakeUpstream) -> None:
    cfg = config(tmp_path, up, extra="\n[metrics]\nenabled = false\n")
    with running_ccm(cfg) as ccm:
        assert ccm.state.metrics is None
        assert post(ccm.base_url).status_code == 200
        r = httpx.get(f"{ccm.base_url}/metrics", timeout=10)
        assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"


def test_workers_add_up_in_multiprocess_mode(tmp_path: Path, up: FakeUpstream) -> None:
    cfg = config(tmp_path, up, server='log_level = "warning"')
    with ccm_process(cfg, "--workers", "2") as (_proc, base):
        with httpx.Client(timeout=10) as client:  # several connections: both workers serve
            for i in range(12):
                with httpx.Client(timeout=10) as one:
                    r = one.post(
                        f"{base}/v1/messages",
                        json={
                            "model": "claude-x",
                            "max_tokens": 5,
                            "stream": i % 2 == 0,
                            "messages": [{"role": "user", "content": "hi"}],
                        },
                    )
                    assert r.status_code == 200
            # a scrape flushes its own worker; the others apply their batches every 0.25 s
            time.sleep(0.6)
            totals = []
            for _ in range(4):  # any worker answers a scrape with the sum of all of them
                text = client.get(f"{base}/metrics", headers={"connection": "close"}).text
                totals.append(sample(text, "ccm_requests_total{"))
        assert totals == [12.0] * 4, totals
    import sqlite3

    with sqlite3.connect(tmp_path / "usage.db") as db:  # both workers wrote the one ledger
        assert db.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 12
