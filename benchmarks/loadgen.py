"""A small keep-alive HTTP/1.1 load generator (asyncio + uvloop), so the benchmark needs
nothing outside Python. Measures per-request latency and time to first body byte."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds, whole response
    ttfb: list[float] = field(default_factory=list)  # seconds, to the first body byte
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def pct(self, values: list[float], p: float) -> float:
        if not values:
            return float("nan")
        s = sorted(values)
        return s[min(len(s) - 1, int(p / 100 * len(s)))] * 1000

    def summary(self) -> dict[str, float]:
        return {
            "requests": len(self.latencies),
            "errors": self.errors,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.pct(self.latencies, 50), 3),
            "p99_ms": round(self.pct(self.latencies, 99), 3),
            "ttfb_p50_ms": round(self.pct(self.ttfb, 50), 3),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 3)
            if self.latencies
            else float("nan"),
        }


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, float]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    t_first = time.perf_counter()
    i = lower.find(b"content-length:")
    if i >= 0:
        n = int(lower[i + 15 : lower.index(b"\r\n", i)].strip())
        if n:
            await reader.readexactly(n)
        return status, t_first
    # chunked
    first = True
    while True:
        size_line = await reader.readuntil(b"\r\n")
        if first:
            t_first = time.perf_counter()
            first = False
        size = int(size_line.strip().split(b";")[0], 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return status, t_first


async def run(
    host: str,
    port: int,
    path: str,
    body: bytes,
    total: int,
    concurrency: int,
    headers: dict[str, str] | None = None,
    max_seconds: float | None = None,
) -> Result:
    """`total` requests over `concurrency` keep-alive connections; with `max_seconds`, fewer
    if that time runs out first (a slow peer's run stays bounded)."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    request = (
        f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n{extra}"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body
    result = Result()
    remaining = [total]
    stop_at = time.perf_counter() + max_seconds if max_seconds else float("inf")

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while remaining[0] > 0 and time.perf_counter() < stop_at:
                remaining[0] -= 1
                t0 = time.perf_counter()
                writer.write(request)
                try:
                    status, t_first = await _read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                    result.errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                t1 = time.perf_counter()
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if status == 200:
                    result.latencies.append(t1 - t0)
                    result.ttfb.append(t_first - t0)
                else:
                    result.errors += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - t0
    return result
