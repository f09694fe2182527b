"""Proxy benchmark: the floor (load generator straight to a fast fake upstream) against the
same load through ccm, for both dialects, two body sizes, stream and non-stream.

    python benchmarks/bench_proxy.py [--requests 2000] [--concurrency 20] [--json out.json]
                                     [--ccr | --no-ccr] [--ledger-off | --no-ledger-off]
                                     [--only SUBSTRING ...] [--rounds N]

Everything runs on 127.0.0.1; upstream, ccm and the load generator share the machine, so
compare the ratios within one run, not absolute figures across machines. Prints requests/s,
p50/p99 latency, the ratio to the floor, added time to first byte for streams, ccm's RSS idle
and after load, and ccm start-up time to its first served request.

With --ccr (the default where `node` and `npm` are found) the same cases (same bodies, request
counts and concurrency, same fake upstream) also run through claude-code-router 2.0.0 (see
benchmarks/ccr.py; installed into benchmarks/.ccr on first use), printed as a third row with
the ccm/CCR requests-per-second and p50 ratios (rps ratio > 1 and p50 ratio < 1 favour ccm),
plus CCR's RSS (its whole node process tree) next to ccm's. Before measuring, CCR gets a
one-time warm-up (1000 requests per small body, 100 per 70KB body) for Node's JIT. CCR
selects the Anthropic upstream by the body's model field ("anth,bench-model"), since it has no
header rules; the OpenAI case uses the unchanged body through CCR's Router.default.

With --ledger-off (the default) a second ccm runs with `[ledger] enabled = false` and
`[metrics] enabled = false`, and every case also goes through it: an "off" row and the on/off
requests-per-second ratio show what the usage ledger and the metrics cost (ccm's defaults have
both on). With --rounds N the on and off loads alternate N times and each keeps its best run,
which damps the noise of a shared machine. --only limits the run to the cases whose name
("anthropic small json", "openai 70KB stream", ...) contains one of the given strings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import ccr as ccr_peer  # noqa: E402
from fast_upstream import TEXT  # noqa: E402
from loadgen import Result, run  # noqa: E402

SMALL = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 256,
    "messages": [{"role": "user", "content": "Say hello."}],
}


CCR_WARMUP_SMALL = 1000  # one-time CCR warm-up per body before measuring (see main)
CCR_WARMUP_70KB = 100


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


def ccm_config(upstream_port: int, path: Path, *, ledger: bool = True) -> None:
    off = "" if ledger else "\n[ledger]\nenabled = false\n\n[metrics]\nenabled = false\n"
    path.write_text(
        f"""{off}[server]
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


def start_ccm(cfg: Path, port: int, home: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ccm.cli",
            "start",
            "--config",
            str(cfg),
            "--port",
            str(port),
            "--no-watch",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HOME": str(home)},
    )


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) a process has used: what ccm spends per
    request, less disturbed than req/s by other load on a shared machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def geomean(values: list[float]) -> float:
    prod = 1.0
    for x in values:
        prod *= x
    return round(prod ** (1 / len(values)), 3)


def best(results: list[Result]) -> Result:
    return max(results, key=lambda r: r.rps)


def fmt(r: dict) -> str:
    return f"{r['rps']:>8.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['ttfb_p50_ms']:>8.2f}"


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def fmt_ratio(r: float | None) -> str:
    return f"{r:.3f}" if r is not None else "  n/a"


def non_200(label: str, res: Result) -> str | None:
    bad = {k: v for k, v in res.statuses.items() if k != 200}
    if res.errors or bad:
        return f"{label}: {res.errors} errors, statuses {res.statuses}"
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--ledger-off",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run every case through a ccm with the ledger and metrics off",
    )
    ap.add_argument("--only", nargs="*", default=None, help="run only cases containing these")
    ap.add_argument("--rounds", type=int, default=1, help="alternate on/off loads N times")
    ap.add_argument(
        "--ccr",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run the load through claude-code-router 2.0.0 (default: on if node/npm exist)",
    )
    args = ap.parse_args()
    if args.ccr is None:
        args.ccr = ccr_peer.node_available()
    elif args.ccr and not ccr_peer.node_available():
        ap.error("--ccr needs node and npm on PATH")

    up_port, ccm_port = free_port(), free_port()
    up = subprocess.Popen([sys.executable, str(ROOT / "benchmarks/fast_upstream.py"), str(up_port)])
    tmp = Path(tempfile.mkdtemp(prefix="ccm-bench-"))
    cfg = tmp / "config.toml"
    ccm_config(up_port, cfg)
    procs = [up]
    results: dict = {"requests": args.requests, "concurrency": args.concurrency, "cases": []}
    ccr_info: dict = {"enabled": False}
    ccr_proc = None
    ccr_port = 0
    ccr_ok: dict[str, str] = {}  # "anthropic 70KB json" -> "ok" | why CCR cannot serve it
    if args.ccr:
        entry = ccr_peer.ensure_ccr()
        if entry is None:
            ccr_info["skipped"] = "npm install of claude-code-router failed"
        else:
            ccr_info.update(
                enabled=True,
                package=f"{ccr_peer.PACKAGE}@{ccr_peer.installed_version()}",
                node=ccr_peer.node_version(),
                routing=ccr_peer.ROUTING,
            )
    else:
        ccr_info["skipped"] = "--no-ccr" if ccr_peer.node_available() else "node/npm not found"
    results["ccr"] = ccr_info
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        ccm = start_ccm(cfg, ccm_port, tmp)
        procs.append(ccm)
        wait_http(f"http://127.0.0.1:{ccm_port}/health")
        httpx.post(
            f"http://127.0.0.1:{ccm_port}/v1/messages", json=SMALL, timeout=10
        ).raise_for_status()
        results["ccm_start_to_first_request_s"] = round(time.monotonic() - t0, 3)
        results["ccm_rss_idle_kb"] = rss_kb(ccm.pid)
        off_port = 0
        off_proc = None
        if args.ledger_off:
            off_port = free_port()
            off_dir = tmp / "ledger-off"
            off_dir.mkdir()
            ccm_config(up_port, off_dir / "config.toml", ledger=False)
            off_proc = start_ccm(off_dir / "config.toml", off_port, off_dir)
            procs.append(off_proc)
            wait_http(f"http://127.0.0.1:{off_port}/health")
            results["ccm_ledger_off_rss_idle_kb"] = rss_kb(off_proc.pid)

        if ccr_info["enabled"]:
            ccr_port = free_port()
            t0 = time.monotonic()
            ccr_proc = ccr_peer.start_ccr(up_port, ccr_port, tmp / "ccr-home", entry)
            procs.append(ccr_proc)
            httpx.post(
                f"http://127.0.0.1:{ccr_port}/v1/messages", json=SMALL, timeout=10
            ).raise_for_status()
            ccr_info["start_to_first_request_s"] = round(time.monotonic() - t0, 3)
            ccr_info["verify_small"] = ccr_peer.verify(ccr_port, SMALL, TEXT)
            ccr_info["verify_70KB"] = ccr_peer.verify(ccr_port, bodies()["70KB"], TEXT)
            for size, key in (("small", "verify_small"), ("70KB", "verify_70KB")):
                for case, res in ccr_info[key].items():
                    dialect, kind = case.split()
                    ccr_ok[f"{dialect} {size} {kind}"] = res
            ccr_info["rss_idle_kb"] = ccr_peer.tree_rss_kb(ccr_proc.pid)
            # Node's JIT needs more than the 100-request per-case warm-up (the first CCR cases
            # otherwise run at about half their steady rate), so warm CCR once on every body
            # it will serve before anything is measured; ccm keeps the per-case warm-up only.
            warm = {"small": CCR_WARMUP_SMALL, "70KB": CCR_WARMUP_70KB}
            t0 = time.monotonic()
            for dialect in ("anthropic", "openai"):
                for size, body in bodies().items():
                    for stream in (False, True):
                        if ccr_ok.get(f"{dialect} {size} {'stream' if stream else 'json'}") != "ok":
                            continue
                        wb = ccr_peer.request_body(dict(body, stream=stream), dialect)
                        asyncio.run(
                            run(
                                "127.0.0.1",
                                ccr_port,
                                "/v1/messages",
                                json.dumps(wb).encode(),
                                warm[size],
                                args.concurrency,
                            )
                        )
            ccr_info["warmup"] = {
                "requests_per_body": warm,
                "concurrency": args.concurrency,
                "seconds": round(time.monotonic() - t0, 1),
            }

        print(
            f"{'case':<34} {'':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'ttfb ms':>8}   ratio  +p50 ms  +ttfb ms"
            + ("   ccm/ccr rps   p50" if ccr_info["enabled"] else "")
        )
        anomalies: list[str] = []
        for dialect, path in (("anthropic", "/v1/messages"), ("openai", "/v1/chat/completions")):
            for size, body in bodies().items():
                for stream in (False, True):
                    b = dict(body, stream=stream)
                    direct_body = json.dumps(dict(b, model="bench-model")).encode()
                    proxy_body = json.dumps(b).encode()
                    name = f"{dialect} {size} {'stream' if stream else 'json'}"
                    if args.only and not any(o in name for o in args.only):
                        continue
                    for conc in sorted({1, args.concurrency}):
                        n = max(200, args.requests // (5 if conc == 1 else 1))
                        asyncio.run(run("127.0.0.1", up_port, path, direct_body, 100, conc))  # warm
                        floor: Result = asyncio.run(
                            run("127.0.0.1", up_port, path, direct_body, n, conc)
                        )
                        hdr = {"x-bench-dialect": dialect}
                        ports = [ccm_port] + ([off_port] if off_proc is not None else [])
                        for port in ports:
                            asyncio.run(
                                run("127.0.0.1", port, "/v1/messages", proxy_body, 100, conc, hdr)
                            )
                        runs: dict[int, list[Result]] = {p: [] for p in ports}
                        cpu: dict[int, list[float]] = {p: [] for p in ports}  # s per request
                        pids = {ccm_port: ccm.pid, off_port: off_proc.pid if off_proc else 0}
                        for _ in range(max(1, args.rounds)):  # on and off alternate
                            for port in ports:
                                c0 = cpu_s(pids[port])
                                res = asyncio.run(
                                    run("127.0.0.1", port, "/v1/messages", proxy_body, n, conc, hdr)
                                )
                                cpu[port].append(
                                    (cpu_s(pids[port]) - c0) / max(1, len(res.latencies))
                                )
                                runs[port].append(res)
                        via: Result = best(runs[ccm_port])
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
                        for label, res in (("direct", floor), ("ccm", via)):
                            if bad := non_200(f"{name} c{conc} {label}", res):
                                anomalies.append(bad)
                        results["cases"].append(row)
                        print(
                            f"{name:<34} c{conc:<3} {'direct':>0}\n{'':<34} {'':>4} {fmt(f)}\n{'':<34} {'ccm':>4} {fmt(v)}   {row['rps_ratio']:.3f} {row['added_p50_ms']:>8.2f} {row['added_ttfb_ms']:>8.2f}"
                        )
                        if off_proc is not None:
                            off = best(runs[off_port])
                            if bad := non_200(f"{name} c{conc} ccm ledger off", off):
                                anomalies.append(bad)
                            o = off.summary()
                            cpu_on = min(cpu[ccm_port]) * 1e6
                            cpu_off = min(cpu[off_port]) * 1e6
                            row.update(
                                ccm_ledger_off=o,
                                ledger_on_off_rps_ratio=ratio(v["rps"], o["rps"]),
                                ledger_added_p50_ms=round(v["p50_ms"] - o["p50_ms"], 3),
                                ccm_cpu_us_per_request=round(cpu_on, 1),
                                ccm_ledger_off_cpu_us_per_request=round(cpu_off, 1),
                                ledger_cpu_ratio=ratio(cpu_on, cpu_off),
                            )
                            print(
                                f"{'':<34} {'off':>4} {fmt(o)}   ledger+metrics on/off: req/s {fmt_ratio(row['ledger_on_off_rps_ratio'])}, "
                                f"+p50 {row['ledger_added_p50_ms']:.3f} ms, ccm CPU/request {cpu_on:.0f}/{cpu_off:.0f} us = {fmt_ratio(row['ledger_cpu_ratio'])}"
                            )
                        if not ccr_info["enabled"]:
                            continue
                        if ccr_ok.get(name) != "ok":
                            row["ccr_skipped"] = ccr_ok.get(name, "not verified")
                            print(f"{'':<34} {'ccr':>4} cannot serve: {row['ccr_skipped']}")
                            anomalies.append(f"{name} c{conc} ccr: {row['ccr_skipped']}")
                            continue
                        ccr_body = json.dumps(ccr_peer.request_body(b, dialect)).encode()
                        asyncio.run(run("127.0.0.1", ccr_port, "/v1/messages", ccr_body, 100, conc))
                        peer: Result = asyncio.run(
                            run("127.0.0.1", ccr_port, "/v1/messages", ccr_body, n, conc)
                        )
                        if bad := non_200(f"{name} c{conc} ccr", peer):
                            anomalies.append(bad)
                        c = peer.summary()
                        row.update(
                            ccr=c,
                            ccr_rps_ratio=ratio(c["rps"], f["rps"]),
                            ccr_added_p50_ms=round(c["p50_ms"] - f["p50_ms"], 3),
                            ccr_added_ttfb_ms=round(c["ttfb_p50_ms"] - f["ttfb_p50_ms"], 3),
                            ccm_ccr_rps_ratio=ratio(v["rps"], c["rps"]),
                            ccm_ccr_p50_ratio=ratio(v["p50_ms"], c["p50_ms"]),
                        )
                        print(
                            f"{'':<34} {'ccr':>4} {fmt(c)}   {fmt_ratio(row['ccr_rps_ratio'])} {row['ccr_added_p50_ms']:>8.2f} {row['ccr_added_ttfb_ms']:>8.2f}"
                            f"   {fmt_ratio(row['ccm_ccr_rps_ratio']):>11} {fmt_ratio(row['ccm_ccr_p50_ratio']):>5}"
                        )
        results["ccm_rss_after_kb"] = rss_kb(ccm.pid)
        if off_proc is not None:
            results["ccm_ledger_off_rss_after_kb"] = rss_kb(off_proc.pid)
            ratios = [
                r["ledger_on_off_rps_ratio"]
                for r in results["cases"]
                if r.get("ledger_on_off_rps_ratio")
            ]
            if ratios:
                prod = 1.0
                for x in ratios:
                    prod *= x
                results["ledger_on_off_rps_geomean"] = round(prod ** (1 / len(ratios)), 3)
                print(
                    f"ledger+metrics on/off req/s over {len(ratios)} cases (geometric mean): {results['ledger_on_off_rps_geomean']:.3f}; "
                    f"RSS with them off: idle {results['ccm_ledger_off_rss_idle_kb'] / 1024:.1f} MB, after load {results['ccm_ledger_off_rss_after_kb'] / 1024:.1f} MB"
                )
        print(f"ccm start to first served request: {results['ccm_start_to_first_request_s']} s")
        print(
            f"ccm RSS idle {results['ccm_rss_idle_kb'] / 1024:.1f} MB, after load {results['ccm_rss_after_kb'] / 1024:.1f} MB"
        )
        if ccr_proc is not None:
            ccr_info["rss_after_kb"] = ccr_peer.tree_rss_kb(ccr_proc.pid)
            served = [r for r in results["cases"] if "ccr" in r]
            for key in ("ccm_ccr_rps_ratio", "ccm_ccr_p50_ratio"):
                vals = [r[key] for r in served if r.get(key)]
                if vals:  # geometric mean over the served cases
                    prod = 1.0
                    for x in vals:
                        prod *= x
                    ccr_info[f"geomean_{key}"] = round(prod ** (1 / len(vals)), 3)
            print(
                f"ccr ({ccr_info['package']}, node {ccr_info['node']}) start to first served request: {ccr_info['start_to_first_request_s']} s"
            )
            print(
                f"ccr RSS (node process tree) idle {ccr_info['rss_idle_kb'] / 1024:.1f} MB, after load {ccr_info['rss_after_kb'] / 1024:.1f} MB"
            )
            if served:
                print(
                    f"ccm/ccr over {len(served)} cases (geometric mean): req/s {fmt_ratio(ccr_info.get('geomean_ccm_ccr_rps_ratio'))}, p50 {fmt_ratio(ccr_info.get('geomean_ccm_ccr_p50_ratio'))}"
                )
        elif not ccr_info["enabled"]:
            print(f"ccr: not run ({ccr_info.get('skipped')})")
        results["anomalies"] = anomalies
        for a in anomalies:
            print(f"warning: {a}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
