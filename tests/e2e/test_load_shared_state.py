"""Bounded load through real `ccm start` processes with one rate-limited key in a pool of three:
one instance without Redis, one with Redis, and two instances sharing Redis, in the same run
(5,000 requests at concurrency 50 each, in two interleaved rounds of 2,500 so that a change in
the machine's load hits every setup alike). Nothing may be lost; the figures go to
test-output/shared_state_load.json and docs/performance.md. The machine is shared: requests/s
move with other processes' load, so the cost of Redis is also measured as the CPU time the
ccm processes (and redis-server) spent per request, which other processes do not change."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import httpx

from tests.conftest import ROOT
from tests.e2e.test_shared_state import (
    KEY_A,
    KEY_B,
    KEY_C,
    REQ,
    instances,
    limited,
    wait_shared,
    with_key,
)
from tests.fakes.redis_server import RedisServer
from tests.fakes.upstream import FakeUpstream
from tests.proxy_setup import model_toml, provider_toml

TOTAL = 5000
ROUNDS = 2
CONCURRENCY = 50


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _warm(bases: list[str]) -> None:
    await _drive(bases, 200, warm=False)


async def _drive(bases: list[str], n: int, *, warm: bool = True) -> tuple[list[int | str], float]:
    sem = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    clients = [httpx.AsyncClient(base_url=b, timeout=30, limits=limits) for b in bases]

    async def one(i: int) -> int | str:
        async with sem:
            try:
                r = await clients[i % len(clients)].post("/v1/messages", json=REQ)
            except httpx.HTTPError as e:
                return type(e).__name__
            return r.status_code

    try:
        if warm:
            await asyncio.gather(*(one(i) for i in range(200)))  # warm-up, not counted
        t0 = time.monotonic()
        results = await asyncio.gather(*(one(i) for i in range(n)))
        return results, time.monotonic() - t0
    finally:
        for c in clients:
            await c.aclose()


def test_load_two_instances_sharing_redis(tmp_path: Path) -> None:
    setups = (
        ("one instance, no Redis", 1, False),
        ("one instance, Redis", 1, True),
        ("two instances, Redis", 2, True),
    )
    report: dict[str, dict[str, float | int]] = {
        name: {
            "requests": 0,
            "concurrency": CONCURRENCY,
            "lost": 0,
            "seconds": 0.0,
            "ccm_cpu_s": 0.0,
            "redis_cpu_s": 0.0,
        }
        for name, _, _ in setups
    }
    per_round = TOTAL // ROUNDS
    with RedisServer(tmp_path / "redis") as redis, FakeUpstream("anthropic") as up:
        up.default = limited(KEY_A)
        pool = f'api_keys = ["{KEY_B}", "{KEY_C}"]'
        body = provider_toml("p", up, key=KEY_A, extra=pool) + model_toml("m", ("p", "p-1"))
        for round_ in range(ROUNDS):
            for name, n, shared in setups:
                run = tmp_path / f"{round_}-{name.replace(' ', '-').replace(',', '')}"
                run.mkdir()
                redis.flush()  # each run starts with nothing rested
                limited_before = with_key(up, KEY_A)
                procs: list = []
                url = redis.url if shared else ""
                with instances(run, body, n, state=url, procs=procs) as bases:
                    if shared:
                        for b in bases:
                            wait_shared(b)
                    asyncio.run(_warm(bases))
                    assert redis.proc is not None
                    pids = [p.pid for p in procs]
                    cpu0 = sum(_cpu_s(p) for p in pids), _cpu_s(redis.proc.pid)
                    results, seconds = asyncio.run(_drive(bases, per_round, warm=False))
                    cpu1 = sum(_cpu_s(p) for p in pids), _cpu_s(redis.proc.pid)
                lost = sum(1 for r in results if r != 200)
                figures = report[name]
                figures["requests"] += per_round
                figures["lost"] += lost
                figures["seconds"] = round(figures["seconds"] + seconds, 2)
                figures["ccm_cpu_s"] = round(figures["ccm_cpu_s"] + cpu1[0] - cpu0[0], 2)
                figures["redis_cpu_s"] = round(figures["redis_cpu_s"] + cpu1[1] - cpu0[1], 2)
                figures[f"limited_key_calls_round_{round_ + 1}"] = (
                    with_key(up, KEY_A) - limited_before
                )
                assert lost == 0, (name, {str(r) for r in results if r != 200})
    for figures in report.values():
        figures["requests_per_s"] = round(figures["requests"] / figures["seconds"], 1)
        figures["ccm_cpu_ms_per_request"] = round(
            figures["ccm_cpu_s"] * 1000 / figures["requests"], 3
        )
    alone, shared = report["one instance, no Redis"], report["one instance, Redis"]
    shared["requests_per_s_vs_no_redis"] = round(
        shared["requests_per_s"] / alone["requests_per_s"], 3
    )
    shared["ccm_cpu_vs_no_redis"] = round(
        shared["ccm_cpu_ms_per_request"] / alone["ccm_cpu_ms_per_request"], 3
    )
    out = ROOT / "test-output"
    out.mkdir(exist_ok=True)
    (out / "shared_state_load.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    for name, figures in report.items():
        # the limited key rests at its first 429: it sees the requests in flight then, no more
        for k, v in figures.items():
            if k.startswith("limited_key_calls"):
                assert v <= 2 * CONCURRENCY, (name, figures)
