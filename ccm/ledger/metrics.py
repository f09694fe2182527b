"""Prometheus metrics (prometheus-client), updated from the ledger's writer thread except the
in-flight gauge, which the request path moves itself.

Under `ccm start --workers N` the CLI points PROMETHEUS_MULTIPROC_DIR at a temporary folder
before the workers start (prometheus-client reads it at import), every worker writes its
values there, and a scrape of any worker adds them up (`MultiProcessCollector`).
"""

from __future__ import annotations

import bisect
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
CIRCUIT_VALUE = {"closed": 0, "half-open": 1, "open": 2}
TOKEN_KINDS = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cache_read", "cache_read_input_tokens"),
    ("cache_write", "cache_creation_input_tokens"),
)


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


@contextlib.contextmanager
def multiprocess_dir() -> Iterator[str]:
    """For `ccm start --workers N`: a fresh PROMETHEUS_MULTIPROC_DIR for this run, removed after."""
    path = tempfile.mkdtemp(prefix="ccm-metrics-")
    old = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = path
    try:
        yield path
    finally:
        if old is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = old
        shutil.rmtree(path, ignore_errors=True)


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = multiprocess()
        # one registry per Metrics (tests build many States in one process)
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "ccm_requests",
            "Requests answered, by rule, logical model, answering provider and status",
            ["rule", "model", "provider", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "ccm_request_duration_seconds",
            "Whole request time, to the last byte",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.first_byte = Histogram(
            "ccm_first_byte_seconds",
            "Time to the first byte sent to the client",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.attempts = Counter(
            "ccm_upstream_attempts",
            "Upstream attempts by provider and result (ok, an HTTP status, timeout, error, skipped)",
            ["provider", "result"],
            registry=r,
        )
        self.tokens = Counter(
            "ccm_tokens",
            "Tokens by provider, upstream model and kind (input, output, cache_read, cache_write)",
            ["provider", "model", "kind"],
            registry=r,
        )
        self.cost = Counter(
            "ccm_cost_usd",
            "Cost in USD of priced requests, by provider and upstream model",
            ["provider", "model"],
            registry=r,
        )
        self.in_flight = Gauge(
            "ccm_in_flight_requests",
            "Requests being served",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.circuit = Gauge(
            "ccm_circuit_state",
            "Circuit breaker per provider as this worker sees it: 0 closed, 1 half-open, 2 open",
            ["provider"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.dropped = Counter(
            "ccm_ledger_rows_dropped",
            "Ledger rows that could not be written (read-only, locked, full) or queued",
            registry=r,
        )
        self.writer_cpu = Counter(
            "ccm_ledger_writer_cpu_seconds",
            "CPU time of the ledger's writer thread (rows, metrics, spans, SQLite inserts)",
            registry=r,
        )
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def watch_in_flight(self, ledger: Any) -> None:
        """In one process the gauge reads the ledger's counter at scrape time (no work per
        request); with workers each request moves the shared gauge (Ledger.shared_gauge)."""
        if self.multiprocess:
            return
        self.in_flight.set_function(lambda: ledger.in_flight)

    def observe_batch(self, done: list[tuple[dict[str, Any], list[Any]]]) -> None:
        """A batch of finished requests (writer thread). Counters are summed over the batch
        first, so each distinct label set costs one update however many rows share it."""
        groups: dict[tuple[Any, ...], list[Any]] = {}  # route + status -> sums
        attempts_by: dict[tuple[str, str], int] = {}
        durations: dict[str, list[float]] = {}
        firsts: dict[str, list[float]] = {}
        for row, attempts in done:
            provider = row["provider"] or "-"
            key = (row["rule"], row["model"], provider, row["status"], row["actual_model"])
            g = groups.get(key)
            if g is None:
                g = groups[key] = [0, 0, 0, 0, 0, 0.0]
            g[0] += 1
            g[1] += row["input_tokens"] or 0
            g[2] += row["output_tokens"] or 0
            g[3] += row["cache_read_input_tokens"] or 0
            g[4] += row["cache_creation_input_tokens"] or 0
            g[5] += row["cost_usd"] or 0.0
            if row["total_ms"] is not None:
                durations.setdefault(provider, []).append(row["total_ms"] / 1000)
            if row["ttfb_ms"] is not None:
                firsts.setdefault(provider, []).append(row["ttfb_ms"] / 1000)
            for a in attempts:
                k = (a.provider, attempt_result(a))
                attempts_by[k] = attempts_by.get(k, 0) + 1
        child = self._child
        for (rule, model, provider, status, actual), g in groups.items():
            child(self.requests, rule or "-", model or "-", provider, str(status)).inc(g[0])
            actual = actual or "-"
            for (kind, _column), n in zip(TOKEN_KINDS, g[1:5], strict=True):
                if n:
                    child(self.tokens, provider, actual, kind).inc(n)
            if g[5]:
                child(self.cost, provider, actual).inc(g[5])
        for (provider, result), n in attempts_by.items():
            child(self.attempts, provider, result).inc(n)
        for hist, values in ((self.duration, durations), (self.first_byte, firsts)):
            for provider, seconds in values.items():
                _observe_many(self._child(hist, provider), seconds)

    def set_circuits(self, health: Any, providers: list[str]) -> None:
        for name in providers:
            state = health.snapshot(name)["circuit"]
            self._child(self.circuit, name).set(CIRCUIT_VALUE.get(state, 0))

    def exposition(self) -> tuple[bytes, str]:
        """The text a scrape gets, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if self.multiprocess:
            from prometheus_client import multiprocess as mp

            registry = CollectorRegistry()
            mp.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def close(self) -> None:
        if self.multiprocess:
            from prometheus_client import multiprocess as mp

            with contextlib.suppress(Exception):
                mp.mark_process_dead(os.getpid())


def _observe_many(child: Any, values: list[float]) -> None:
    """Histogram.observe for many values: bucket counts and the sum updated once each. Uses
    the child's bucket fields (stable across prometheus-client releases); plain observe()
    otherwise."""
    bounds = getattr(child, "_upper_bounds", None)
    buckets = getattr(child, "_buckets", None)
    total = getattr(child, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for v in values:
            child.observe(v)
        return
    counts = [0] * len(bounds)
    for v in values:
        counts[bisect.bisect_left(bounds, v)] += 1
    for i, n in enumerate(counts):
        if n:
            buckets[i].inc(n)
    total.inc(sum(values))


def attempt_result(a: Any) -> str:
    if a.reason == "ok":
        return "ok"
    if a.reason.startswith("skipped"):
        return "skipped"
    if a.status is not None:
        return str(a.status)
    reason = a.reason.lower()
    if "timeout" in reason or "within" in reason or "silent" in reason:
        return "timeout"
    return "error"
