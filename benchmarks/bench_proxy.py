"""Proxy benchmark: the floor (the load generator straight to a fast fake upstream), ccm, and
claude-code-router side by side, in interleaved rounds, with the ratios per round.

    python benchmarks/bench_proxy.py                     # the table for docs/performance.md
    python benchmarks/bench_proxy.py --markdown out.md --json out.json
    python benchmarks/bench_proxy.py --only "small json" --no-ccr --transport aiohttp=aiohttp
    python benchmarks/bench_proxy.py --tree base=/tmp/ccm-main   # another source tree's ccm

Everything runs on 127.0.0.1: upstream, ccm, CCR and the load generator share the machine, so
compare ratios within one run, never absolute figures across runs. Every case (both dialects,
a one-line body and the 76 KB Claude Code turn, JSON and stream, concurrency 1 and
--concurrency) is measured in --rounds rounds; in each round every target (floor, ccm, ccm with
the ledger and metrics off, CCR, any --tree/--transport variant) gets one --seconds load, one
after the other, so machine noise lands on all of them alike. A target's figure is the median
over the rounds; a ratio is the median of the per-round ratios (target / floor in that round).
"added p50" and "added TTFB" are the medians of (target - floor) per round.

Targets:
- floor: the fake upstream directly (benchmarks/fast_upstream.py);
- ccm: `ccm start` with its defaults (usage ledger and metrics on);
- ccm off (--ledger-off, default on): the same with `[ledger]` and `[metrics]` disabled;
- CCR (--ccr, default where node and npm are found): claude-code-router 2.0.0 on the same
  upstream (benchmarks/ccr.py installs it into benchmarks/.ccr), warmed up once for Node's JIT;
- --tree LABEL=PATH: ccm from another source tree (PYTHONPATH=PATH, this venv), ledger on;
- --transport LABEL=NAME: this ccm with another upstream transport (benchmarks/ccm_variant.py:
  lean, httpcore, aiohttp).

Also printed: ccm's CPU time per request (user + system of its whole process, from /proc: far
less disturbed than req/s by other load), RSS idle (after one request per case kind) and after
the whole run, start-up to the first served request, the load average before and after, and the
issue-17 targets against this run. --markdown writes the tables docs/performance.md shows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
CCR_WARMUP = {"small": 1000, "70KB": 100}  # one-time CCR warm-up per body (Node's JIT)
WARMUP = 100  # requests per target before each case's rounds
DIALECT_PATH = {"anthropic": "/v1/messages", "openai": "/v1/chat/completions"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


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


@dataclass
class Target:
    label: str
    kind: str  # "floor" | "ccm" | "ccr"
    port: int
    proc: subprocess.Popen | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def rss_kb(self) -> int:
        if self.proc is None:
            return 0
        if self.kind == "ccr":
            return ccr_peer.tree_rss_kb(self.proc.pid)
        return rss_kb(self.proc.pid)


def start_ccm(
    label: str,
    up_port: int,
    home: Path,
    *,
    ledger: bool = True,
    tree: Path | None = None,
    transport: str | None = None,
) -> Target:
    home.mkdir(parents=True)
    cfg = home / "config.toml"
    ccm_config(up_port, cfg, ledger=ledger)
    port = free_port()
    env = {**os.environ, "HOME": str(home)}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    head = [sys.executable, "-m", "ccm.cli"]
    if transport is not None:
        head = [sys.executable, str(ROOT / "benchmarks/ccm_variant.py"), transport]
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [*head, "start", "--config", str(cfg), "--port", str(port), "--no-watch"],
        stdout=subprocess.DEVNULL,
        stderr=(home / "ccm.log").open("wb"),
        env=env,
        cwd=tree or ROOT,
    )
    target = Target(label, "ccm", port, proc)
    try:
        wait_http(f"http://127.0.0.1:{port}/health")
        httpx.post(
            f"http://127.0.0.1:{port}/v1/messages", json=SMALL, timeout=10
        ).raise_for_status()
    except Exception:
        proc.terminate()
        print((home / "ccm.log").read_text()[-3000:], file=sys.stderr)
        raise
    target.info["start_to_first_request_s"] = round(time.monotonic() - t0, 3)
    return target


def idle_rss(target: Target) -> None:
    """RSS once every kind of request (dialect, stream or not) has been served once."""
    for dialect in DIALECT_PATH:
        for stream in (False, True):
            httpx.post(
                f"http://127.0.0.1:{target.port}/v1/messages",
                json=dict(SMALL, stream=stream),
                headers={"x-bench-dialect": dialect},
                timeout=10,
            ).raise_for_status()
    time.sleep(0.3)
    target.info["rss_idle_kb"] = target.rss_kb()


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def geomean(values: list[float]) -> float | None:
    values = [v for v in values if v and v == v]
    if not values:
        return None
    prod = 1.0
    for x in values:
        prod *= x
    return prod ** (1 / len(values))


@dataclass
class Row:
    case: str
    conc: int
    runs: dict[str, list[dict[str, float]]] = field(default_factory=dict)  # label -> per round
    skipped: dict[str, str] = field(default_factory=dict)  # label -> why

    def med(self, label: str, key: str) -> float:
        return median([r[key] for r in self.runs.get(label, [])])

    def ratio(self, label: str, over: str = "floor", key: str = "rps") -> float:
        """Median over the rounds of label / over (the same round's figures)."""
        a, b = self.runs.get(label, []), self.runs.get(over, [])
        return median([x[key] / y[key] for x, y in zip(a, b, strict=False) if y[key]])

    def added(self, label: str, key: str) -> float:
        a, b = self.runs.get(label, []), self.runs.get("floor", [])
        return median([x[key] - y[key] for x, y in zip(a, b, strict=False)])

    def to_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "concurrency": self.conc,
            "runs": self.runs,
            "skipped": self.skipped,
        }


def measure(
    target: Target, path: str, body: bytes, conc: int, seconds: float, headers: dict[str, str]
) -> dict[str, float]:
    c0 = cpu_s(target.pid) if target.kind == "ccm" and target.pid else None
    res: Result = asyncio.run(
        run("127.0.0.1", target.port, path, body, 10**9, conc, headers, max_seconds=seconds)
    )
    out: dict[str, float] = dict(res.summary())
    bad = {k: v for k, v in res.statuses.items() if k != 200}
    if res.errors or bad:
        out["anomaly"] = 1
        print(f"  warning: {target.label}: {res.errors} errors, statuses {res.statuses}")
    if c0 is not None and target.pid:
        out["cpu_us_per_request"] = round(
            (cpu_s(target.pid) - c0) / max(1, len(res.latencies)) * 1e6, 1
        )
    return out


def fmt_num(x: float | None, spec: str = ".0f") -> str:
    return "–" if x is None or x != x else format(x, spec)


def tables(rows: list[Row], targets: list[Target], meta: dict[str, Any]) -> str:
    labels = [t.label for t in targets]
    has_ccr = "CCR" in labels
    out = []
    head = "| case | c | floor req/s | ccm req/s | ccm / floor | ccm +p50 ms | ccm +TTFB ms | ccm CPU µs/req |"
    sep = "|---|---|---|---|---|---|---|---|"
    if has_ccr:
        head += " CCR req/s | CCR / floor | CCR +p50 ms | **ccm / CCR** |"
        sep += "---|---|---|---|"
    out += [head, sep]
    for r in rows:
        line = (
            f"| {r.case} | {r.conc} | {fmt_num(r.med('floor', 'rps'))} | {fmt_num(r.med('ccm', 'rps'))} "
            f"| {fmt_num(r.ratio('ccm'), '.3f')} | {fmt_num(r.added('ccm', 'p50_ms'), '.3f')} "
            f"| {fmt_num(r.added('ccm', 'ttfb_p50_ms'), '.3f')} | {fmt_num(r.med('ccm', 'cpu_us_per_request'))} |"
        )
        if has_ccr:
            if "CCR" in r.skipped:
                line += f" cannot serve: {r.skipped['CCR']} | | | |"
            else:
                line += (
                    f" {fmt_num(r.med('CCR', 'rps'))} | {fmt_num(r.ratio('CCR'), '.3f')} "
                    f"| {fmt_num(r.added('CCR', 'p50_ms'), '.2f')} | **{fmt_num(r.ratio('ccm', 'CCR'), '.2f')}** |"
                )
        out.append(line)
    if "ccm off" in labels:
        out += [
            "",
            "| case | c | ccm req/s (ledger+metrics on) | off | on / off | +p50 on−off ms | CPU µs/req on | off | CPU on / off |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            on_cpu, off_cpu = (
                r.med("ccm", "cpu_us_per_request"),
                r.med("ccm off", "cpu_us_per_request"),
            )
            p50 = median(
                [
                    a["p50_ms"] - b["p50_ms"]
                    for a, b in zip(r.runs["ccm"], r.runs["ccm off"], strict=False)
                ]
            )
            out.append(
                f"| {r.case} | {r.conc} | {fmt_num(r.med('ccm', 'rps'))} | {fmt_num(r.med('ccm off', 'rps'))} "
                f"| {fmt_num(r.ratio('ccm', 'ccm off'), '.3f')} | {fmt_num(p50, '.3f')} | {fmt_num(on_cpu)} "
                f"| {fmt_num(off_cpu)} | {fmt_num(on_cpu / off_cpu if off_cpu else None, '.3f')} |"
            )
    variants = [t.label for t in targets if t.kind == "ccm" and t.label not in ("ccm", "ccm off")]
    if variants:
        head = "| case | c | ccm / floor |"
        sep = "|---|---|---|"
        for v in variants:
            head += f" {v} / floor | {v} / ccm | {v} CPU µs/req |"
            sep += "---|---|---|"
        out += ["", head, sep]
        for r in rows:
            line = f"| {r.case} | {r.conc} | {fmt_num(r.ratio('ccm'), '.3f')} |"
            for v in variants:
                line += (
                    f" {fmt_num(r.ratio(v), '.3f')} | {fmt_num(r.ratio(v, 'ccm'), '.3f')} "
                    f"| {fmt_num(r.med(v, 'cpu_us_per_request'))} |"
                )
            out.append(line)
    out.append("")
    for t in targets:
        if t.kind == "floor":
            continue
        i = t.info
        out.append(
            f"{t.label}: RSS idle {i.get('rss_idle_kb', 0) / 1024:.1f} MB, after the run "
            f"{i.get('rss_after_kb', 0) / 1024:.1f} MB; start to first served request "
            f"{i.get('start_to_first_request_s', '?')} s{i.get('note', '')}  "
        )
    ratios = {
        label: geomean([r.ratio(label, "CCR") for r in rows if "CCR" not in r.skipped])
        for label in ("ccm",)
        if has_ccr
    }
    if ratios.get("ccm"):
        out.append(
            f"Geometric mean over the cases CCR served: ccm / CCR req/s {ratios['ccm']:.2f}.  "
        )
    out.append(
        f"{meta['rounds']} rounds of {meta['seconds']} s per target and case; load average "
        f"before {meta['load_before']}, after {meta['load_after']}; {meta['cpus']} CPUs, shared by "
        f"the load generator, the fake upstream and every target."
    )
    out += ["", *targets_check(rows, targets)]
    return "\n".join(out)


def targets_check(rows: list[Row], targets: list[Target]) -> list[str]:
    """Issue 17's targets against this run."""
    by = {(r.case, r.conc): r for r in rows}
    conc = max((r.conc for r in rows), default=1)
    ccm = next((t for t in targets if t.label == "ccm"), None)
    lines = ["| target (issue 17) | this run | met |", "|---|---|---|"]

    def add(what: str, value: float | None, ok: bool | None, spec: str = ".3f") -> None:
        lines.append(
            f"| {what} | {fmt_num(value, spec)} | {'yes' if ok else ('no' if ok is not None else '–')} |"
        )

    def get(case: str, c: int) -> Row | None:
        return by.get((case, c))

    if r := get("openai small json", conc):
        v = r.ratio("ccm")
        add(f"c{conc} small translated ≥ 0.35 of floor req/s", v, v >= 0.35)
    for d in ("openai", "anthropic"):
        if r := get(f"{d} 70KB json", conc):
            v = r.ratio("ccm")
            add(f"c{conc} 76 KB {d} ≥ 0.50 of floor req/s", v, v >= 0.5)
    if r := get("openai small json", 1):
        v = r.added("ccm", "p50_ms")
        add("c1 added p50 translated ≤ 0.25 ms", v, v <= 0.25)
    if r := get("anthropic small json", 1):
        v = r.added("ccm", "p50_ms")
        add("c1 added p50 pass-through ≤ 0.20 ms", v, v <= 0.2)
    for d in ("anthropic", "openai"):
        if r := get(f"{d} small stream", 1):
            v = r.added("ccm", "ttfb_p50_ms")
            add(f"c1 added TTFB {d} stream ≤ 0.30 ms", v, v <= 0.3)
    if ccm is not None:
        idle = ccm.info.get("rss_idle_kb", 0) / 1024
        after = ccm.info.get("rss_after_kb", 0) / 1024
        add("RSS idle ≤ 52 MB (ledger and metrics on)", idle, idle <= 52, ".1f")
        add("RSS after the run ≤ 60 MB (ledger and metrics on)", after, after <= 60, ".1f")
    small = [r.ratio("ccm", "CCR") for r in rows if "small" in r.case and r.runs.get("CCR")]
    big = [r.ratio("ccm", "CCR") for r in rows if "70KB" in r.case and r.runs.get("CCR")]
    if small:
        add("ccm / CCR req/s ≥ 3 on small bodies (lowest case)", min(small), min(small) >= 3, ".2f")
    if big:
        add("ccm / CCR req/s ≥ 25 on the 76 KB turn (lowest case)", min(big), min(big) >= 25, ".2f")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=1.0, help="length of one load (default 1 s)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per case (default 3)")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path, help="also write the tables to this file")
    ap.add_argument(
        "--ledger-off",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run a ccm with the ledger and metrics off (default on)",
    )
    ap.add_argument(
        "--ccr",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run claude-code-router 2.0.0 (default: on if node/npm exist)",
    )
    ap.add_argument("--only", nargs="*", default=None, help="run only cases containing these")
    ap.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="LABEL=PATH",
        help="also run ccm from another source tree (e.g. an export of main)",
    )
    ap.add_argument(
        "--transport",
        action="append",
        default=[],
        metavar="LABEL=NAME",
        help="also run this ccm with another upstream transport (lean, httpcore, aiohttp)",
    )
    args = ap.parse_args()
    if args.ccr is None:
        args.ccr = ccr_peer.node_available()
    elif args.ccr and not ccr_peer.node_available():
        ap.error("--ccr needs node and npm on PATH")

    meta: dict[str, Any] = {
        "rounds": args.rounds,
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
        "load_before": loadavg(),
    }
    tmp = Path(tempfile.mkdtemp(prefix="ccm-bench-"))
    up_port = free_port()
    up = subprocess.Popen([sys.executable, str(ROOT / "benchmarks/fast_upstream.py"), str(up_port)])
    targets: list[Target] = [Target("floor", "floor", up_port, up)]
    ccr_ok: dict[str, str] = {}
    try:
        time.sleep(0.3)
        targets.append(start_ccm("ccm", up_port, tmp / "ccm"))
        if args.ledger_off:
            targets.append(start_ccm("ccm off", up_port, tmp / "off", ledger=False))
        for spec in args.tree:
            label, _, path = spec.partition("=")
            targets.append(start_ccm(label, up_port, tmp / label, tree=Path(path).resolve()))
        for spec in args.transport:
            label, _, name = spec.partition("=")
            targets.append(start_ccm(label, up_port, tmp / label, transport=name))
        for t in targets[1:]:
            idle_rss(t)
        if args.ccr:
            entry = ccr_peer.ensure_ccr()
            if entry is None:
                print("ccr: npm install of claude-code-router failed; running without it")
            else:
                port = free_port()
                t0 = time.monotonic()
                proc = ccr_peer.start_ccr(up_port, port, tmp / "ccr-home", entry)
                t = Target("CCR", "ccr", port, proc)
                targets.append(t)
                httpx.post(
                    f"http://127.0.0.1:{port}/v1/messages", json=SMALL, timeout=10
                ).raise_for_status()
                t.info["start_to_first_request_s"] = round(time.monotonic() - t0, 3)
                t.info["rss_idle_kb"] = t.rss_kb()
                t.info["note"] = (
                    f" (node process tree; {ccr_peer.PACKAGE}@{ccr_peer.installed_version()}, "
                    f"node {ccr_peer.node_version()})"
                )
                for size, body in bodies().items():
                    for case, res in ccr_peer.verify(port, body, TEXT).items():
                        dialect, kind = case.split()
                        ccr_ok[f"{dialect} {size} {kind}"] = res
                for case, ok in ccr_ok.items():  # Node's JIT: warm once on every body it serves
                    if ok != "ok":
                        continue
                    dialect, size, kind = case.split()
                    b = ccr_peer.request_body(
                        dict(bodies()[size], stream=kind == "stream"), dialect
                    )
                    asyncio.run(
                        run(
                            "127.0.0.1",
                            port,
                            "/v1/messages",
                            json.dumps(b).encode(),
                            CCR_WARMUP[size],
                            args.concurrency,
                        )
                    )

        rows: list[Row] = []
        for dialect, path in DIALECT_PATH.items():
            for size, body in bodies().items():
                for stream in (False, True):
                    name = f"{dialect} {size} {'stream' if stream else 'json'}"
                    if args.only and not any(o in name for o in args.only):
                        continue
                    b = dict(body, stream=stream)
                    payload = {
                        "floor": (path, json.dumps(dict(b, model="bench-model")).encode(), {}),
                        "ccm": (
                            "/v1/messages",
                            json.dumps(b).encode(),
                            {"x-bench-dialect": dialect},
                        ),
                        "ccr": (
                            "/v1/messages",
                            json.dumps(ccr_peer.request_body(b, dialect)).encode(),
                            {},
                        ),
                    }
                    for conc in sorted({1, args.concurrency}):
                        row = Row(name, conc)
                        live = []
                        for t in targets:
                            if t.kind == "ccr" and ccr_ok.get(name) != "ok":
                                row.skipped[t.label] = ccr_ok.get(name, "not verified")
                                continue
                            live.append(t)
                            p, data, hdr = payload[t.kind]
                            asyncio.run(
                                run("127.0.0.1", t.port, p, data, WARMUP, conc, hdr, max_seconds=5)
                            )
                            row.runs[t.label] = []
                        for _ in range(args.rounds):
                            for t in live:
                                p, data, hdr = payload[t.kind]
                                row.runs[t.label].append(
                                    measure(t, p, data, conc, args.seconds, hdr)
                                )
                        rows.append(row)
                        summary = "  ".join(
                            f"{t.label} {row.med(t.label, 'rps'):.0f}"
                            + ("" if t.kind == "floor" else f" ({row.ratio(t.label):.3f})")
                            for t in live
                        )
                        print(f"{name:<24} c{conc:<3} req/s: {summary}", flush=True)
        for t in targets[1:]:
            t.info["rss_after_kb"] = t.rss_kb()
        meta["load_after"] = loadavg()
        text = tables(rows, targets, meta)
        print()
        print(text)
        if args.markdown:
            args.markdown.write_text(text + "\n")
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "meta": meta,
                        "targets": {t.label: t.info for t in targets},
                        "rows": [r.to_json() for r in rows],
                    },
                    indent=2,
                )
            )
    finally:
        for t in targets:
            if t.proc is not None:
                t.proc.terminate()
        for t in targets:
            if t.proc is None:
                continue
            try:
                t.proc.wait(10)
            except subprocess.TimeoutExpired:
                t.proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
