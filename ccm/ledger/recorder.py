"""The request path's one contact with the ledger, metrics and tracing.

`ledger.begin(...)` when a request has been admitted returns a Trail; the request's code sets
`trail.decision` and `trail.reply` as it learns them; `trail.finish(answer)` ends it: at once
for a JSON answer, or when the relay ends for a stream (normally, with an error event, or with
the client gone: 499). Either way one record goes on the writer thread's queue; everything
else (usage decoding, price, session id, metrics, spans, the SQLite insert) happens there.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import operator
import os
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import msgspec

from ccm.config.secrets import fingerprint
from ccm.ledger.db import COLUMNS, BatchThread, LedgerDB
from ccm.ledger.paths import ledger_path
from ccm.ledger.prices import Pricer
from ccm.ledger.usage import StreamTap, Usage, error_type, message_usage, stream_usage
from ccm.wire.claude_code import session_id, user_id

log = logging.getLogger("ccm.ledger")
_MISSING = object()
_encode = msgspec.json.encode


def client_secret(headers: Mapping[str, str]) -> str | None:
    key = headers.get("x-api-key")
    if key:
        return key
    auth = headers.get("authorization") or ""
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return None


class Trail:
    """One request on its way through ccm (request path: keep it cheap)."""

    __slots__ = (
        "client",
        "config",
        "decision",
        "ended",
        "ledger",
        "reply",
        "rid",
        "t0",
        "traceparent",
        "ts",
        "uid",
    )

    def __init__(
        self,
        ledger: Ledger,
        config: Any,
        body: dict[str, Any],
        headers: Mapping[str, str],
        t0: float,
    ) -> None:
        self.ledger = ledger
        self.config = config
        self.t0 = t0
        self.ts = time.time()
        self.rid = f"{ledger.id_prefix}{next(ledger.ids):08x}"
        self.uid = user_id(body)
        secret = client_secret(headers)
        self.client = ledger.fingerprint(secret) if secret else None
        self.traceparent = headers.get("traceparent")
        self.decision: Any = None
        self.reply: Any = None
        self.ended = False
        ledger.in_flight += 1
        if ledger.shared_gauge is not None:
            ledger.shared_gauge.inc()

    def finish(self, answer: Any) -> Any:
        """The answer, with its stream tapped; records the request (now, or at the stream's end)."""
        answer.headers["x-ccm-request-id"] = self.rid
        if answer.stream is None:
            self._end(answer.status, answer.body, None, None, time.perf_counter(), False)
        else:
            answer.stream = self._tap(answer.stream, answer.status)
        return answer

    def fail(self) -> None:
        """Called from an `except` block: the request raised instead of answering; 499 when
        it was cancelled (the client went away), else 500 (ccm answers it so)."""
        gone = isinstance(sys.exc_info()[1], asyncio.CancelledError)
        self._end(499 if gone else 500, None, None, None, time.perf_counter(), gone)

    async def _tap(self, stream: AsyncIterator[bytes], status: int) -> AsyncIterator[bytes]:
        tap = StreamTap()
        first: float | None = None
        gone = True
        try:
            async for chunk in stream:
                if first is None:
                    first = time.perf_counter()
                tap.feed(chunk)
                yield chunk
            gone = False
        except Exception:
            gone = False
            status = 500
            raise
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            self._end(499 if gone else status, None, tap.kept, first, time.perf_counter(), gone)

    def _end(
        self,
        status: int,
        body: bytes | None,
        kept: list[bytes] | None,
        first: float | None,
        end: float,
        gone: bool,
    ) -> None:
        if self.ended:
            return
        self.ended = True
        ledger = self.ledger
        ledger.in_flight -= 1
        if ledger.shared_gauge is not None:
            ledger.shared_gauge.dec()
        if ledger.active:
            ledger.thread.put((self, status, body, kept, first, end, gone))


class NoTrail:
    """What `begin` returns when nothing records (ledger, metrics and tracing all off)."""

    __slots__ = ("decision", "reply")

    def __init__(self) -> None:
        self.decision: Any = None
        self.reply: Any = None

    def finish(self, answer: Any) -> Any:
        return answer

    def fail(self) -> None:
        pass


class Ledger:
    """Owned by State: the SQLite ledger, the metrics and the tracer, and the writer thread."""

    def __init__(
        self,
        config_path: Path,
        config: Any,
        *,
        tracing: Any = None,
        interval: float = 0.1,
    ) -> None:
        lc = config.ledger
        self.path = Path(ledger_path(config_path, lc.path))
        self.metrics: Any = None
        if config.metrics.enabled:
            from ccm.ledger.metrics import Metrics

            self.metrics = Metrics()
        self.db: LedgerDB | None = (
            LedgerDB(self.path, lc.retention_days, on_drop=self._dropped) if lc.enabled else None
        )
        if tracing is None:
            from ccm.ledger.tracing import from_env

            tracing = from_env()
        self.tracing = tracing
        self.thread = BatchThread(self._process, interval=interval, on_overflow=self._dropped)
        self.overflowed = 0
        self.in_flight = 0  # requests begun and not ended (this process)
        # request ids: random per process, then a counter (no system call per request)
        self.id_prefix = os.urandom(4).hex()
        self.ids = itertools.count(1)
        self.active = self.db is not None or self.metrics is not None or self.tracing is not None
        # with workers, the gauge lives in the shared folder and each request moves it
        self.shared_gauge: Any = None
        if self.metrics is not None:
            self.metrics.watch_in_flight(self)
            if self.metrics.multiprocess:
                self.shared_gauge = self.metrics.in_flight
        self._pricer: tuple[Any, Pricer] | None = None
        self._sessions: dict[str, str | None] = {}
        self._last_key: tuple[str, str | None] = ("", None)
        self._columns = operator.itemgetter(*COLUMNS)

    def fingerprint(self, secret: str) -> str | None:
        """The client key's fingerprint; clients send the same key every time, so the last one
        is remembered (request path)."""
        last = self._last_key
        if last[0] == secret:
            return last[1]
        fp = fingerprint(secret)
        self._last_key = (secret, fp)
        return fp

    def _session(self, uid: str) -> str | None:
        found = self._sessions.get(uid, _MISSING)
        if found is _MISSING:
            found = session_id({"metadata": {"user_id": uid}})
            if len(self._sessions) > 1024:
                self._sessions.clear()
            self._sessions[uid] = found
        return found  # type: ignore[return-value]

    @property
    def dropped(self) -> int:
        return self.overflowed + (self.db.dropped if self.db is not None else 0)

    def _dropped(self, n: int) -> None:
        if self.metrics is not None:
            self.metrics.dropped.inc(n)

    def begin(
        self, config: Any, body: dict[str, Any], headers: Mapping[str, str], t0: float
    ) -> Trail | NoTrail:
        if not self.active:
            return NoTrail()
        return Trail(self, config, body, headers, t0)

    def start(self) -> None:
        self.active = self.db is not None or self.metrics is not None or self.tracing is not None
        if self.active:
            self.thread.start()

    def flush(self, timeout: float = 5.0) -> bool:
        return self.thread.flush(timeout)

    def stop(self) -> None:
        self.thread.stop()
        if self.db is not None:
            self.db.close()
        if self.tracing is not None:
            self.tracing.shutdown()
        if self.metrics is not None:
            self.metrics.close()

    # ---- the writer thread ------------------------------------------------------------------

    def _pricer_for(self, config: Any) -> Pricer:
        cached = self._pricer
        if cached is None or cached[0] is not config:
            cached = self._pricer = (config, Pricer(config))
        return cached[1]

    def _process(self, batch: list[Any]) -> None:
        t0 = time.thread_time()
        rows = []
        done = []
        columns = self._columns
        tracing = self.tracing
        for item in batch:
            row, attempts, config = self._row(*item)
            done.append((row, attempts))
            if tracing is not None:
                types = {p.name: p.provider_type for p in config.providers}
                tracing.export(row, attempts, types)
            rows.append(columns(row))
        if self.metrics is not None:
            self.metrics.observe_batch(done)
        if self.db is not None:
            self.db.write(rows)
        if self.metrics is not None:  # what the writer costs, in CPU seconds of its thread
            self.metrics.writer_cpu.inc(time.thread_time() - t0)

    def _row(
        self,
        trail: Trail,
        status: int,
        body: bytes | None,
        kept: list[bytes] | None,
        first: float | None,
        end: float,
        gone: bool,
    ) -> tuple[dict[str, Any], list[Any], Any]:
        decision, reply = trail.decision, trail.reply
        provider = getattr(reply, "provider", None)
        actual = getattr(reply, "actual_model", None)
        attempts = list(getattr(reply, "attempts", None) or [])
        if kept is not None:
            usage = stream_usage(kept)
        elif body is not None and status < 400:
            usage = message_usage(body)
        else:
            usage = Usage()
        err = usage.error_type
        if gone:
            err = "client_closed"
        elif err is None and status >= 400 and body:
            err = error_type(body)
        logical = None
        if decision is not None and provider:
            logical = next(
                (
                    e.model
                    for e in decision.chain
                    if e.provider == provider and e.actual_model == actual
                ),
                decision.model,
            )
        if kept is not None and first is None:
            ttfb = None  # the stream ended before its first byte went out
        else:
            ttfb = round(((first if first is not None else end) - trail.t0) * 1000, 3)
        cost, subscription = self._pricer_for(trail.config).cost(provider, actual, logical, usage)
        real = [a for a in attempts if not a.reason.startswith("skipped")]
        failed_before = any(a.reason != "ok" for a in real[:-1]) if real else False
        uid = trail.uid
        row: dict[str, Any] = {
            "ts": trail.ts,
            "request_id": trail.rid,
            "session_id": self._session(uid) if uid else None,
            "client_key": trail.client,
            "rule": getattr(decision, "rule", None),
            "requested_model": getattr(decision, "original_model", None),
            "model": getattr(decision, "model", None),
            "provider": provider,
            "actual_model": actual,
            "provider_key": getattr(real[-1], "key", None) if real else None,
            "status": status,
            "error_type": err,
            "stream": 1 if kept is not None else 0,
            "attempts": _encode([a.to_json() for a in attempts]).decode() if attempts else None,
            "attempt_count": len(real),
            "failover": 1 if failed_before and status < 400 and real[-1].reason == "ok" else 0,
            "ttfb_ms": ttfb,
            "total_ms": round((end - trail.t0) * 1000, 3),
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_read_input_tokens": usage.cache_read_input_tokens,
            "cache_creation_input_tokens": usage.cache_creation_input_tokens,
            "cost_usd": cost,
            "subscription": 1 if subscription else 0,
            "traceparent": trail.traceparent,
        }
        config, trail.config = trail.config, None  # let a reloaded config go
        return row, attempts, config
