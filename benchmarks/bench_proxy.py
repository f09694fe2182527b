"""Proxy benchmark: the floor (load generator straight to a fast fake upstream) against the
same load through ccm, for both dialects, two body sizes, stream and non-stream.

    python benchmarks/bench_proxy.py [--requests 2000] [--concurrency 20] [--json out.json]

Everything runs on 127.0.0.1; upstream, ccm and the load generator share the machine, so
compare the ratios within one run, not absolute figures across machines. Prints requests/s,
p50/p99 latency, the ratio to the floor, added time to first byte for streams, ccm's RSS idle
and after load, and ccm start-up time to its first served request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from loadgen import Result, run  # noqa: E402

SMALL = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 256,
    "messages": [{"role": "user", "content": "Say hello."}],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def wait_http(url: str, timeout: float = 20) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            httpx.get(url, timeout=1)
            return time.monotonic() - t0
        except httpx.HTTPError:
            time.sleep(0.01)
    raise RuntimeError(f"{url} did not come up")


def bodies() -> dict[str, dict]:
    big = json.loads((ROOT / "examples/requests/claude-code-main-turn.json").read_text())
    big["stream"] = False
    return {"small": SMALL, "70KB": big}


def ccm_config(upstream_port: int, path: Path) -> None:
    path.write_text(
        f"""[server]
log_level = "warning"
retries = 0

[router]
rules = "bench.rules"

[[providers]]
name = "anth"
provider_type = "anthropic"
api_key = "sk-bench"
base_url = "http://127.0.0.1:{upstream_port}"

[[providers]]
name = "oai"
provider_type = "openai"
api_key = "sk-bench"
base_url = "http://127.0.0.1:{upstream_port}/v1"
"""
    )
    (path.parent / "bench.rules").write_text(
        'route openai when header("x-bench-dialect") == "openai" to "oai,bench-model"\ndefault to "anth,bench-model"\n'
    )


def fmt(r: dict) -> str:
    return f"{r['rps']:>8.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['ttfb_p50_ms']:>8.2f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    up_port, ccm_port = free_port(), free_port()
    up = subprocess.Popen([sys.executable, str(ROOT / "benchmarks/fast_upstream.py"), str(up_port)])
    tmp = Path(tempfile.mkdtemp(prefix="ccm-bench-"))
    cfg = tmp / "config.toml"
    ccm_config(up_port, cfg)
    procs = [up]
    results: dict = {"requests": args.requests, "concurrency": args.concurrency, "cases": []}
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        ccm = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ccm.cli",
                "start",
                "--config",
                str(cfg),
                "--port",
                str(ccm_port),
                "--no-watch",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "HOME": str(tmp)},
        )
        procs.append(ccm)
        wait_http(f"http://127.0.0.1:{ccm_port}/health")
        httpx.post(
            f"http://127.0.0.1:{ccm_port}/v1/messages", json=SMALL, timeout=10
        ).raise_for_status()
        results["ccm_start_to_first_request_s"] = round(time.monotonic() - t0, 3)
        results["ccm_rss_idle_kb"] = rss_kb(ccm.pid)

        print(
            f"{'case':<34} {'':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'ttfb ms':>8}   ratio  +p50 ms  +ttfb ms"
        )
        for dialect, path in (("anthropic", "/v1/messages"), ("openai", "/v1/chat/completions")):
            for size, body in bodies().items():
                for stream in (False, True):
                    b = dict(body, stream=stream)
                    direct_body = json.dumps(dict(b, model="bench-model")).encode()
                    proxy_body = json.dumps(b).encode()
                    name = f"{dialect} {size} {'stream' if stream else 'json'}"
                    for conc in sorted({1, args.concurrency}):
                        n = max(200, args.requests // (5 if conc == 1 else 1))
                        asyncio.run(run("127.0.0.1", up_port, path, direct_body, 100, conc))  # warm
                        floor: Result = asyncio.run(
                            run("127.0.0.1", up_port, path, direct_body, n, conc)
                        )
                        hdr = {"x-bench-dialect": dialect}
                        asyncio.run(
                            run("127.0.0.1", ccm_port, "/v1/messages", proxy_body, 100, conc, hdr)
                        )
                        via: Result = asyncio.run(
                            run("127.0.0.1", ccm_port, "/v1/messages", proxy_body, n, conc, hdr)
                        )
                        f, v = floor.summary(), via.summary()
                        row = {
                            "case": name,
                            "concurrency": conc,
                            "direct": f,
                            "ccm": v,
                            "rps_ratio": round(v["rps"] / f["rps"], 3) if f["rps"] else None,
                            "added_p50_ms": round(v["p50_ms"] - f["p50_ms"], 3),
                            "added_ttfb_ms": round(v["ttfb_p50_ms"] - f["ttfb_p50_ms"], 3),
                        }
                        results["cases"].append(row)
                        print(
                            f"{name:<34} c{conc:<3} {'direct':>0}\n{'':<34} {'':>4} {fmt(f)}\n{'':<34} {'ccm':>4} {fmt(v)}   {row['rps_ratio']:.3f} {row['added_p50_ms']:>8.2f} {row['added_ttfb_ms']:>8.2f}"
                        )
        results["ccm_rss_after_kb"] = rss_kb(ccm.pid)
        print(f"ccm start to first served request: {results['ccm_start_to_first_request_s']} s")
        print(
            f"ccm RSS idle {results['ccm_rss_idle_kb'] / 1024:.1f} MB, after load {results['ccm_rss_after_kb'] / 1024:.1f} MB"
        )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
