"""Bounded load-and-fault test: 2,000 requests at concurrency 50 through a real `ccm start`
process, to fake upstreams where one provider fails 30% of the time and another hangs.

Every request must end in a correct answer or a clear Anthropic-shaped error; none lost;
ccm's RSS must stay flat. The counts go to test-output/load_fault.json (and the test log)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from pathlib import Path

import httpx

from tests.conftest import ROOT
from tests.fakes.upstream import FakeUpstream, dynamic, hang, reply_text, status
from tests.harness import ccm_process
from tests.proxy_setup import model_toml, provider_toml, write_config

TOTAL = 2000
CONCURRENCY = 50


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _one(c: httpx.AsyncClient, i: int) -> tuple[str, str]:
    stream = i % 3 == 0
    body = {
        "model": "flaky-first" if i % 2 else "hang-first",
        "max_tokens": 16,
        "stream": stream,
        "messages": [{"role": "user", "content": f"request {i}"}],
    }
    try:
        r = await c.post("/v1/messages", json=body)
    except httpx.HTTPError as e:
        return "lost", type(e).__name__
    if r.status_code == 200:
        if stream:
            events = [
                json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")
            ]
            text = "".join(
                e["delta"].get("text", "") for e in events if e.get("type") == "content_block_delta"
            )
            ok = (
                bool(events)
                and events[-1]["type"] == "message_stop"
                and text.startswith("answer-from")
            )
            return ("ok" if ok else "bad-stream"), r.headers.get("x-ccm-route", "")
        ok = r.json()["content"][0]["text"].startswith("answer-from")
        return ("ok" if ok else "bad-answer"), r.headers.get("x-ccm-route", "")
    try:
        err = r.json()
        clear = err["type"] == "error" and bool(err["error"]["message"])
    except (ValueError, KeyError, TypeError):
        clear = False
    return (f"error-{r.status_code}" if clear else "unclear-error"), ""


async def _drive(base: str, n: int, start: int = 0) -> list[tuple[str, str]]:
    sem = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as c:

        async def run(i: int) -> tuple[str, str]:
            async with sem:
                return await _one(c, i)

        return await asyncio.gather(*(run(i) for i in range(start, start + n)))


def test_load_and_faults(tmp_path: Path) -> None:
    rng = random.Random(1234)
    with (
        FakeUpstream("openai") as flaky,
        FakeUpstream("anthropic") as hanger,
        FakeUpstream("openai") as good,
    ):
        flaky.default = dynamic(
            lambda _req: status(500) if rng.random() < 0.3 else reply_text("answer-from-flaky")
        )
        hanger.default = hang(5)
        good.default = reply_text("answer-from-good")
        cfg = write_config(
            tmp_path / "config.toml",
            provider_toml("flaky", flaky)
            + provider_toml(
                "hanger",
                hanger,
                extra="[providers.timeouts]\nfirst_byte_timeout_ms = 300\napi_timeout_ms = 300",
            )
            + provider_toml("good", good)
            + model_toml("flaky-first", ("flaky", "f-1"), ("good", "g-1"))
            + model_toml("hang-first", ("hanger", "h-1"), ("good", "g-1")),
            server='log_level = "warning"\ncircuit_cooldown_ms = 2000',
            router="",
        )
        with ccm_process(cfg) as (proc, base):
            warm = asyncio.run(_drive(base, 200, start=TOTAL))  # warm-up, not counted
            rss_before = _rss_kb(proc.pid)
            t0 = time.monotonic()
            results = asyncio.run(_drive(base, TOTAL))
            elapsed = time.monotonic() - t0
            rss_after = _rss_kb(proc.pid)
            assert proc.poll() is None, "ccm died under load"

    outcomes = Counter(kind for kind, _ in results)
    routes = Counter(route.rsplit("provider=", 1)[-1] for kind, route in results if kind == "ok")
    report = {
        "requests": TOTAL,
        "concurrency": CONCURRENCY,
        "outcomes": dict(outcomes),
        "served_by": dict(routes),
        "flaky_upstream_requests": len(flaky.requests),
        "flaky_500s": sum(1 for r in flaky.requests if r.status == 500),
        "hanger_upstream_requests": len(hanger.requests),
        "seconds": round(elapsed, 2),
        "requests_per_s": round(TOTAL / elapsed, 1),
        "rss_kb_before": rss_before,
        "rss_kb_after": rss_after,
        "warmup_outcomes": dict(Counter(k for k, _ in warm)),
    }
    out = ROOT / "test-output"
    out.mkdir(exist_ok=True)
    (out / "load_fault.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    assert len(results) == TOTAL
    assert outcomes["ok"] == TOTAL, report  # a backup always answers: every request is served
    assert report["flaky_500s"] > 0.2 * len(flaky.requests)  # the fault really happened
    assert report["hanger_upstream_requests"] < 100  # the hanging provider's circuit opened
    assert rss_after - rss_before < 20_000, report  # flat: under 20 MB growth over 2,000 requests
