"""Time route() on Claude Code-shaped requests, and parsing+compiling a 50-rule file.

    python benchmarks/bench_route.py            # prints a table
    python benchmarks/bench_route.py --json     # one JSON object

Decoding the body is excluded from route() time; it is measured in the same run as the
baseline each figure is reported against (route / decode).
Goals (issue 2): route() under 20 µs when no token count is needed; parse+compile of a
50-rule file under 50 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ccm.config.load import load_config, parse_config  # noqa: E402
from ccm.rules.chain import Resolver  # noqa: E402
from ccm.rules.compile import compile_rules  # noqa: E402
from ccm.rules.load import build_router  # noqa: E402
from ccm.rules.parse import parse_rules  # noqa: E402

EXAMPLES = ROOT / "examples"


def median_us(fn: Callable[[], object], batch: int, rounds: int = 15) -> float:
    """Median over `rounds` of the mean time of `batch` calls, in microseconds."""
    fn()  # warm caches
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter_ns() - t0) / batch / 1000)
    return statistics.median(samples)


def fifty_rules() -> str:
    lines = ['rewrite when model ~ /^claude-/ to "glm-4.6"']
    for i in range(48):
        cond = [
            f"last_user ~ /\\bticket-{i}\\b/",
            f'header("x-team") == "team-{i}"',
            f'tools.name in ["Tool{i}", "Other{i}"] and not thinking',
            f"max_tokens == {1000 + i} or messages > {100 + i}",
        ][i % 4]
        lines.append(f'route r{i} when {cond} to ["glm-4.6", "zai coding plan,glm-4.5-air"]')
    lines.append("default to model")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    raw = (EXAMPLES / "requests" / "claude-code-main-turn.json").read_bytes()
    compact = msgspec.json.encode(msgspec.json.decode(raw))  # the bytes Claude Code sends
    body = msgspec.json.decode(compact)
    small = msgspec.json.decode(
        (EXAMPLES / "requests" / "claude-code-background.json").read_bytes()
    )
    headers = {"anthropic-version": "2023-06-01", "x-api-key": "sk-test"}

    mux = build_router(load_config(EXAMPLES / "config.toml"))
    rules = build_router(load_config(EXAMPLES / "config-rules.toml"))

    decode_us = median_us(lambda: msgspec.json.decode(compact), 200)
    results: dict[str, float] = {"decode_70kb_us": decode_us}
    cases = {
        "route_mux_toml_main_turn_us": lambda: mux.route(body, headers),
        "route_mux_toml_background_us": lambda: mux.route(small, headers),
        "route_default_rules_main_turn_with_tokens_us": lambda: rules.route(body, headers),
        "route_default_rules_background_us": lambda: rules.route(small, headers),
    }
    for name, fn in cases.items():
        results[name] = median_us(fn, 2000)

    cfg_text = (EXAMPLES / "config.toml").read_text()
    resolver = Resolver(parse_config(cfg_text, "config.toml").config)
    src = fifty_rules()

    def parse_compile() -> object:
        return compile_rules(parse_rules(src, "fifty.rules"), resolver)

    results["parse_compile_50_rules_ms"] = median_us(parse_compile, 5, rounds=7) / 1000
    results["size_main_turn_bytes"] = len(compact)

    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"Claude Code main turn: {len(compact):,} bytes compact JSON; decode (baseline) {decode_us:.1f} µs"
    )
    print(f"{'case':<48} {'median':>10} {'× decode':>9}")
    for name, value in results.items():
        if name.endswith("_us") and name != "decode_70kb_us":
            print(f"{name:<48} {value:>8.2f}µs {value / decode_us:>9.3f}")
    print(f"{'parse_compile_50_rules':<48} {results['parse_compile_50_rules_ms']:>8.2f}ms")
    goal = results["route_mux_toml_main_turn_us"] < 20 and results["parse_compile_50_rules_ms"] < 50
    print("goals (route < 20 µs without tokens; 50 rules < 50 ms):", "met" if goal else "NOT met")


if __name__ == "__main__":
    main()
