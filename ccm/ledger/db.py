"""The ledger's SQLite file and the thread that writes it.

The event loop never touches SQLite: a finished request is appended to a deque (a few hundred
nanoseconds); a writer thread wakes every `interval` seconds, turns the batch into rows and
inserts them as multi-row INSERT statements rather than `executemany`:
sqlite3 lets go of the GIL around every statement step, and with the event loop busy each
row then waited for the GIL again (measured under a busy main thread: 91 µs of writer CPU
per row with executemany, 15 µs with one statement per 32 rows, and the loop thread ran
10-20% more work). WAL mode, so `ccm usage` and the status line read while ccm
writes, and several workers can share one file (busy timeout 2 s).

If the file cannot be written (read-only place, locked past the timeout, disk full, not a
database) requests are still served: the rows of that batch are dropped and counted, and one
warning is logged (and one info line when writing works again).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("ccm.ledger")

SCHEMA_VERSION = 1
COLUMNS = (
    "ts",  # unix time the request arrived
    "request_id",  # also sent to the client as x-ccm-request-id
    "session_id",  # Claude Code session (metadata.user_id)
    "client_key",  # fingerprint of the client's x-api-key / Bearer, never the key
    "rule",
    "requested_model",  # the model the client asked for
    "model",  # the logical model the rules chose
    "provider",  # the provider that answered (null when none did)
    "actual_model",  # the model id sent to that provider
    "provider_key",  # fingerprint of the upstream key of the last attempt (key pools)
    "status",  # HTTP status sent to the client (499: the client went away)
    "error_type",  # Anthropic error type, or an SSE error event's type, or client_closed
    "stream",
    "attempts",  # JSON: every attempt (provider, actual_model, status, reason, ms)
    "attempt_count",  # attempts that reached a provider (skipped open circuits not counted)
    "failover",  # 1 when an earlier attempt failed and a later one answered
    "ttfb_ms",  # time to the first byte sent (streams) or to the answer (non-stream)
    "total_ms",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cost_usd",  # null when no price is known (never 0 for unknown)
    "subscription",  # 1 when the provider is a subscription (OAuth) one: not billed per token
)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    request_id TEXT,
    session_id TEXT,
    client_key TEXT,
    rule TEXT,
    requested_model TEXT,
    model TEXT,
    provider TEXT,
    actual_model TEXT,
    provider_key TEXT,
    status INTEGER,
    error_type TEXT,
    stream INTEGER,
    attempts TEXT,
    attempt_count INTEGER,
    failover INTEGER,
    ttfb_ms REAL,
    total_ms REAL,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cache_read_input_tokens INTEGER,
    cache_creation_input_tokens INTEGER,
    cost_usd REAL,
    subscription INTEGER
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts);
CREATE INDEX IF NOT EXISTS requests_session ON requests (session_id, ts);
PRAGMA user_version = {SCHEMA_VERSION};
"""
INSERT = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES "
ROW_PLACEHOLDERS = f"({', '.join('?' * len(COLUMNS))})"

Row = tuple[Any, ...]
Connect = Callable[[Path], sqlite3.Connection]
PRUNE_EVERY = 3600.0
RETRY_OPEN_EVERY = 30.0
SLICE = 200  # records processed and written at once (the GIL is let go between slices)
# the writer wakes when this many records wait, or after its interval: records held longer
# keep their requests' objects alive (in one A/B at concurrency 16, a 0.01 s interval cost
# 313-344 µs of CPU per request against 364-381 at 1 s), and an idle ccm must not spin
WAKE_AT = 32


MAX_STATEMENT_ROWS = 32  # 800 parameters: under SQLite's old limit of 999 too


@functools.cache  # at most MAX_STATEMENT_ROWS texts, so sqlite3's statement cache stays small
def _insert(rows: int) -> str:
    return INSERT + ", ".join([ROW_PLACEHOLDERS] * rows)


def _insert_rows(conn: sqlite3.Connection, rows: list[Row]) -> None:
    for i in range(0, len(rows), MAX_STATEMENT_ROWS):
        part = rows[i : i + MAX_STATEMENT_ROWS]
        conn.execute(_insert(len(part)), [v for row in part for v in row])


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating it 0600 if new) in WAL mode with the schema in place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    conn = sqlite3.connect(path, timeout=2.0, check_same_thread=False, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-512")  # KiB: rows are appended, rarely read here
        conn.executescript(SCHEMA)
    except BaseException:
        conn.close()
        raise
    return conn


class LedgerDB:
    """The file; used by the writer thread only."""

    def __init__(
        self,
        path: Path,
        retention_days: int = 90,
        *,
        on_drop: Callable[[int], None] | None = None,
        opener: Connect = connect,
    ) -> None:
        self.path = path
        self.retention_days = retention_days
        self.on_drop = on_drop
        self.opener = opener
        self.conn: sqlite3.Connection | None = None
        self.dropped = 0
        self.written = 0
        self.failing = False
        self.warned = False
        self._next_open = 0.0
        self._next_prune = 0.0

    def _problem(self, n: int, e: BaseException) -> None:
        self.dropped += n
        if self.on_drop is not None and n:
            self.on_drop(n)
        if not self.failing:
            self.failing = True
            if not self.warned:
                self.warned = True
                log.warning(
                    "usage ledger %s cannot be written (%s: %s); requests are still served, "
                    "their rows are dropped and counted (ccm_ledger_rows_dropped_total)",
                    self.path,
                    type(e).__name__,
                    e,
                )

    def _open(self) -> sqlite3.Connection | None:
        if self.conn is not None:
            return self.conn
        now = time.monotonic()
        if now < self._next_open:
            return None
        self._next_open = now + RETRY_OPEN_EVERY
        self.conn = self.opener(self.path)
        return self.conn

    def write(self, rows: list[Row]) -> None:
        """One batch, written whole or dropped whole."""
        if not rows:
            return
        try:
            conn = self._open()
            if conn is None:  # opening failed recently: don't retry on every batch
                self._problem(len(rows), OSError("not open"))
                return
            if len(rows) <= MAX_STATEMENT_ROWS:
                # the usual batch: one INSERT is its own transaction; BEGIN and COMMIT would be
                # two more GIL hand-offs
                _insert_rows(conn, rows)
            else:
                with conn:
                    conn.execute("BEGIN")
                    _insert_rows(conn, rows)
            self.written += len(rows)
            if self.failing:
                self.failing = False
                log.info("usage ledger %s is written again", self.path)
            self._prune(conn)
        except (sqlite3.Error, OSError) as e:
            self._problem(len(rows), e)

    def _prune(self, conn: sqlite3.Connection) -> None:
        now = time.monotonic()
        if self.retention_days <= 0 or now < self._next_prune:
            return
        self._next_prune = now + PRUNE_EVERY
        cutoff = time.time() - self.retention_days * 86400
        with conn:
            conn.execute("BEGIN")
            conn.execute("DELETE FROM requests WHERE ts < ?", (cutoff,))

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self.conn.close()
            self.conn = None


class _Flush:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class BatchThread:
    """Items put from the event loop, handed in batches to `process` on one daemon thread."""

    def __init__(
        self,
        process: Callable[[list[Any]], None],
        *,
        interval: float = 0.25,
        max_pending: int = 50_000,
        on_overflow: Callable[[int], None] | None = None,
    ) -> None:
        self.process = process
        self.interval = interval
        self.max_pending = max_pending
        self.on_overflow = on_overflow
        self.pending: collections.deque[Any] = collections.deque()
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one batch at a time (thread, or flush when not running)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def put(self, item: Any) -> None:
        if len(self.pending) >= self.max_pending:  # the writer is stuck: drop, count
            if self.on_overflow is not None:
                self.on_overflow(1)
            return
        self.pending.append(item)
        if len(self.pending) == WAKE_AT:
            self._wake.set()

    def start(self) -> None:
        if self.running:
            return
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="ccm-ledger", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self.interval)
            self._wake.clear()
            self.drain()
        self.drain()

    def drain(self) -> None:
        with self._lock:
            batch: list[Any] = []
            flushes: list[_Flush] = []
            pending = self.pending
            while pending:
                item = pending.popleft()
                if isinstance(item, _Flush):
                    flushes.append(item)
                else:
                    batch.append(item)
            for i in range(0, len(batch), SLICE):
                if i:
                    time.sleep(0)  # let the event loop's thread have the GIL between slices
                try:
                    self.process(batch[i : i + SLICE])
                except Exception:  # a bug here must not kill the writer
                    log.exception("usage ledger: a batch of %d could not be recorded", len(batch))
            for f in flushes:
                f.done.set()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything put before this call is processed."""
        if not self.running:
            self.drain()
            return True
        marker = _Flush()
        self.pending.append(marker)
        self._wake.set()
        return marker.done.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.drain()
