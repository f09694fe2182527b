"""/api/usage: the ledger as the admin page reads it, against a real ccm on a socket serving
real traffic to fake upstreams (stream and not, two sessions, a failover, a failure)."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.upstream import FakeUpstream, reply_text, status
from tests.harness import RunningCCM, running_ccm
from tests.ledger.traffic import SESSION_A, SESSION_B, USAGE, send
from tests.proxy_setup import model_toml, provider_toml, upstream_fixture, write_config

# 3 $/M in, 15 $/M out: 12 * 3e-6 + 9 * 15e-6 = 0.000036 + 0.000135 per request
PRICED = 0.000171


anth = upstream_fixture("anthropic", reply_text("hello", usage=USAGE))
oai = upstream_fixture("openai", reply_text("hello", usage=USAGE))


MODELS = model_toml(
    "sonnet", ("anth", "claude-upstream-1", {"price": {"input": 3.0, "output": 15.0}})
) + model_toml("gpt", ("anth", "claude-upstream-2"), ("oai", "gpt-upstream-2"))


def config(tmp_path: Path, anth: FakeUpstream, oai: FakeUpstream, extra: str = "") -> Path:
    return write_config(
        tmp_path / "config.toml",
        provider_toml("anth", anth) + provider_toml("oai", oai) + MODELS + extra,
        router='default = "sonnet"',
    )


def api(ccm: RunningCCM, path: str, **params: Any) -> dict[str, Any]:
    r = httpx.get(f"{ccm.base_url}/api/usage{path}", params=params, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def traffic(ccm: RunningCCM, anth: FakeUpstream) -> dict[str, str]:
    """6 sonnet (session A, priced), 4 gpt (session B) of which the first fails over from
    anth (429) to oai, and one gpt that fails on both (session B). Returns request ids.
    After a 429 the key rests for its retry-after (1 s): the 500s come after that."""
    ids = {}
    for i in range(6):
        r = send(ccm.base_url, "sonnet", SESSION_A, stream=i % 2 == 0)
        assert r.status_code == 200, r.text
    anth.script(status(429))
    r = send(ccm.base_url, "gpt", SESSION_B, stream=False)
    assert r.status_code == 200, r.text
    ids["failover"] = r.headers["x-ccm-request-id"]
    time.sleep(1.1)  # the limited key rests for its retry-after
    for i in range(3):
        anth.script(status(500))
        assert send(ccm.base_url, "gpt", SESSION_B, stream=i == 0).status_code == 200
    return ids


def test_usage_over_time_by_provider_and_model(
    tmp_path: Path, anth: FakeUpstream, oai: FakeUpstream
) -> None:
    with running_ccm(config(tmp_path, anth, oai)) as ccm:
        before = api(ccm, "", since="1h")
        assert before["enabled"] is True and before["totals"]["requests"] == 0
        assert before["message"].startswith("No requests recorded yet")
        assert len(before["timeline"]["t"]) in (1, 2)  # the hour(s) of the last 60 minutes
        traffic(ccm, anth)
        u = api(ccm, "", since="1h")
        assert u["enabled"] is True and u["message"] is None and u["bucket"] == "hour"
        t = u["totals"]
        assert (t["requests"], t["input_tokens"], t["output_tokens"]) == (10, 120, 90)
        assert t["cost_usd"] == pytest.approx(6 * PRICED, abs=1e-12)  # gpt has no price
        assert t["unpriced_requests"] == 4 and t["failovers"] == 4 and t["errors"] == 0
        assert 0 < t["p50_ms"] <= t["p95_ms"] and 0 < t["ttfb_p50_ms"] <= t["ttfb_p95_ms"]

        # the timeline adds up to the totals, one value per hour
        tl = u["timeline"]
        assert all(len(tl[k]) == len(tl["t"]) for k in ("requests", "cost_usd", "p95_ms"))
        assert sum(tl["requests"]) == 10 and sum(tl["input_tokens"]) == 120
        assert tl["t"] == sorted(tl["t"]) and all(
            b - a == 3600 for a, b in itertools.pairwise(tl["t"])
        )

        by_provider = {r["provider"]: r for r in u["by_provider"]}
        assert by_provider["anth"]["requests"] == 6 and by_provider["oai"]["requests"] == 4
        assert by_provider["anth"]["cost_usd"] == pytest.approx(6 * PRICED, abs=1e-12)
        assert by_provider["oai"]["cost_usd"] is None
        by_model = {r["model"]: r for r in u["by_model"]}
        assert by_model["gpt-upstream-2"]["output_tokens"] == 36
        assert by_model["claude-upstream-1"]["p95_ms"] is not None

        # the split for stacked charts: one row of values per provider, most requests first
        s = u["series"]
        assert s["by"] == "provider" and s["keys"] == ["anth", "oai"]
        assert [sum(row) for row in s["requests"]] == [6, 4]
        assert all(len(row) == len(tl["t"]) for row in s["output_tokens"])
        by_model_split = api(ccm, "", since="1h", by="model")["series"]
        assert set(by_model_split["keys"]) == {"claude-upstream-1", "gpt-upstream-2"}

        # days: the whole range in local days
        days = api(ccm, "", since="3d", bucket="day")
        assert days["bucket"] == "day" and len(days["timeline"]["t"]) in (3, 4)
        assert sum(days["timeline"]["requests"]) == 10
        assert api(ccm, "", since="10d")["bucket"] == "day"  # auto: days beyond 3 days

        # a range that ends before the traffic has none of it
        assert api(ccm, "", since="2h", until=str(time.time() - 3600))["totals"]["requests"] == 0


def test_today_and_this_week(tmp_path: Path, anth: FakeUpstream, oai: FakeUpstream) -> None:
    with running_ccm(config(tmp_path, anth, oai)) as ccm:
        traffic(ccm, anth)
        s = api(ccm, "/summary")
        assert s["enabled"] is True
        for span in ("today", "week"):
            assert s[span]["requests"] == 10
            assert s[span]["cost_usd"] == pytest.approx(6 * PRICED, abs=1e-12)
        assert s["week"]["since"] <= s["today"]["since"] <= time.time()
        assert time.localtime(s["week"]["since"]).tm_wday == 0  # from Monday
        assert time.localtime(s["today"]["since"])[3:6] == (0, 0, 0)  # local midnight


def test_requests_filters_paging_and_one_request(
    tmp_path: Path, anth: FakeUpstream, oai: FakeUpstream
) -> None:
    with running_ccm(config(tmp_path, anth, oai)) as ccm:
        ids = traffic(ccm, anth)
        oai.script(status(500), status(500))
        anth.script(status(500))
        failed = send(ccm.base_url, "gpt", SESSION_B, stream=False)
        assert failed.status_code >= 500

        every = api(ccm, "/requests")
        assert every["total"] == 11 and len(every["rows"]) == 11
        ts = [r["ts"] for r in every["rows"]]
        assert ts == sorted(ts, reverse=True)  # newest first
        assert every["rows"][0]["request_id"] == failed.headers["x-ccm-request-id"]
        assert "attempts" not in every["rows"][0]

        assert api(ccm, "/requests", session=SESSION_A)["total"] == 6
        assert api(ccm, "/requests", provider="oai")["total"] == 4
        assert api(ccm, "/requests", model="gpt-upstream-2")["total"] == 4  # upstream model
        assert api(ccm, "/requests", model="gpt")["total"] == 5  # logical model
        errors = api(ccm, "/requests", status="error")
        assert errors["total"] == 1 and errors["rows"][0]["status"] >= 500
        assert api(ccm, "/requests", status="failover")["total"] == 4
        assert api(ccm, "/requests", status="200")["total"] == 10
        assert api(ccm, "/requests", session=SESSION_B, status="ok")["total"] == 4
        assert api(ccm, "/requests", since="1h", until=str(time.time() - 1800))["total"] == 0

        # pages of 4: every request once, in order
        pages = [api(ccm, "/requests", limit=4, offset=o) for o in (0, 4, 8)]
        assert [len(p["rows"]) for p in pages] == [4, 4, 3]
        assert [r["id"] for p in pages for r in p["rows"]] == [r["id"] for r in every["rows"]]
        assert pages[1]["total"] == 11 and pages[1]["offset"] == 4

        one = api(ccm, f"/requests/{ids['failover']}")
        assert one["provider"] == "oai" and one["failover"] == 1 and one["session_id"] == SESSION_B
        assert [(a["provider"], a["status"]) for a in one["attempts"]] == [
            ("anth", 429),
            ("oai", 200),
        ]
        assert one["input_tokens"] == 12 and one["cost_usd"] is None

        f = api(ccm, "/filters")
        assert f["providers"] == ["anth", "oai"]
        assert {"gpt", "sonnet", "gpt-upstream-2", "claude-upstream-1"} <= set(f["models"])
        assert [s["session_id"] for s in f["sessions"]] == [SESSION_B, SESSION_A]
        assert f["sessions"][0]["requests"] == 5 and "error" in f["statuses"]


@pytest.mark.parametrize(
    ("path", "params", "says"),
    [
        ("", {"since": "yesterday-ish"}, "give a span such as 24h"),
        ("", {"bucket": "minute"}, "bucket"),
        ("", {"since": "1h", "until": "2h"}, "until must be after since"),
        ("", {"since": "400d", "bucket": "hour"}, "use bucket=day"),
        ("/requests", {"status": "bad"}, "one of ok, error"),
        ("/requests", {"limit": "many"}, "limit"),
        ("/requests/nope", {}, "no request 'nope'"),
    ],
)
def test_bad_queries_say_what_to_do(
    tmp_path: Path, anth: FakeUpstream, oai: FakeUpstream, path: str, params: dict, says: str
) -> None:
    with running_ccm(config(tmp_path, anth, oai)) as ccm:
        assert send(ccm.base_url, "sonnet", SESSION_A, stream=False).status_code == 200
        r = httpx.get(f"{ccm.base_url}/api/usage{path}", params=params, timeout=10)
        assert r.status_code in (400, 404), r.text
        body = r.json()
        assert body["type"] == "error" and says in body["error"]["message"]
        assert httpx.get(f"{ccm.base_url}/api/usage", timeout=10).status_code == 200  # serving


def test_ledger_off_is_an_empty_answer_not_an_error(
    tmp_path: Path, anth: FakeUpstream, oai: FakeUpstream
) -> None:
    with running_ccm(config(tmp_path, anth, oai, "\n[ledger]\nenabled = false\n")) as ccm:
        assert send(ccm.base_url, "sonnet", SESSION_A, stream=False).status_code == 200
        u = api(ccm, "")
        assert u["enabled"] is False and "[ledger] enabled = false" in u["message"]
        assert u["totals"]["requests"] == 0 and u["totals"]["cost_usd"] is None
        assert sum(u["timeline"]["requests"]) == 0 and u["by_provider"] == []
        listed = api(ccm, "/requests")
        assert listed["enabled"] is False and listed["rows"] == [] and listed["total"] == 0
        summary = api(ccm, "/summary")
        assert summary["enabled"] is False and summary["today"]["requests"] == 0
        assert api(ccm, "/filters")["providers"] == []
        r = httpx.get(f"{ccm.base_url}/api/usage/requests/x", timeout=10)
        assert r.status_code == 404 and "[ledger] enabled = false" in r.json()["error"]["message"]
        assert not (tmp_path / "usage.db").exists()


def test_a_damaged_ledger_is_a_503_that_says_what_to_do(
    tmp_path: Path, anth: FakeUpstream, oai: FakeUpstream
) -> None:
    (tmp_path / "usage.db").write_bytes(b"this is not an SQLite database" * 100)
    with running_ccm(config(tmp_path, anth, oai)) as ccm:
        r = httpx.get(f"{ccm.base_url}/api/usage/requests", timeout=10)
        assert r.status_code == 503
        assert "move it aside" in r.json()["error"]["message"]
        assert send(ccm.base_url, "sonnet", SESSION_A, stream=False).status_code == 200


def test_guarded_like_the_rest_of_the_admin_api(
    tmp_path: Path, anth: FakeUpstream, oai: FakeUpstream
) -> None:
    cfg = config(tmp_path, anth, oai)
    cfg.write_text(cfg.read_text().replace("port = 13456", 'port = 13456\nadmin_token = "tok"'))
    with running_ccm(cfg) as ccm:
        for path in ("", "/summary", "/requests", "/requests/x", "/filters"):
            r = httpx.get(f"{ccm.base_url}/api/usage{path}", timeout=10)
            assert r.status_code == 401, path
        r = httpx.get(
            f"{ccm.base_url}/api/usage", headers={"authorization": "Bearer tok"}, timeout=10
        )
        assert r.status_code == 200
        # a name that is not this machine's (DNS rebinding) is refused even on loopback
        r = httpx.get(
            f"{ccm.base_url}/api/usage/requests",
            headers={"host": "127.0.0.1.evil.example", "authorization": "Bearer nope"},
            timeout=10,
        )
        assert r.status_code in (401, 403)
