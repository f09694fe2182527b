"""The ledger file: WAL, batches, retention, and every way it can fail to be written."""

from __future__ import annotations

import logging
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from ccm.ledger.db import COLUMNS, BatchThread, LedgerDB, connect


def row(ts: float, n: int = 1) -> tuple:
    values = dict.fromkeys(COLUMNS)
    values.update(ts=ts, request_id=f"r{n}", status=200, input_tokens=12, output_tokens=9)
    return tuple(values[c] for c in COLUMNS)


def count(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM requests").fetchone()[0]


def test_writes_in_wal_mode_to_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "usage.db"
    db = LedgerDB(path)
    db.write([row(time.time(), i) for i in range(5)])
    assert count(path) == 5 and db.written == 5 and db.dropped == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    db.close()


@pytest.mark.parametrize("size", [1, 2, 31, 32, 33, 95, 200, 257])
def test_every_row_of_a_batch_is_written_once_in_order(tmp_path: Path, size: int) -> None:
    """Batches go in as multi-row INSERTs of at most 32 rows: no row lost, doubled or
    moved at the seams."""
    db = LedgerDB(tmp_path / "u.db")
    now = time.time()
    db.write([row(now + i, i) for i in range(size)])
    db.write([row(now + size, size)])
    with sqlite3.connect(tmp_path / "u.db") as conn:
        got = conn.execute("SELECT request_id, ts FROM requests ORDER BY id").fetchall()
    assert [r[0] for r in got] == [f"r{i}" for i in range(size + 1)]
    assert [r[1] for r in got] == [now + i for i in range(size + 1)]
    assert db.written == size + 1


def test_retention_prunes_old_rows(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    db = LedgerDB(path, retention_days=90)
    old = time.time() - 91 * 86400
    db.write([row(old, 1), row(old, 2)])  # the first write prunes: these two are already old
    db._next_prune = 0
    db.write([row(time.time(), 3)])
    assert count(path) == 1
    keep = LedgerDB(path, retention_days=0)  # 0 keeps everything
    keep.write([row(old, 4)])
    assert count(path) == 2


def test_unwritable_path_drops_counts_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "file").write_text("x")
    dropped: list[int] = []
    db = LedgerDB(tmp_path / "file" / "usage.db", on_drop=dropped.append)
    caplog.set_level(logging.WARNING, logger="ccm.ledger")
    for _ in range(3):
        db.write([row(time.time()), row(time.time())])
    assert db.dropped == 6 and sum(dropped) == 6 and db.written == 0
    assert len([r for r in caplog.records if "cannot be written" in r.getMessage()]) == 1


def test_not_a_database(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "usage.db"
    path.write_bytes(b"this is not an SQLite file" * 100)
    db = LedgerDB(path)
    caplog.set_level(logging.WARNING, logger="ccm.ledger")
    db.write([row(time.time())])
    assert db.dropped == 1
    assert "cannot be written" in caplog.text


def test_disk_full_then_written_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "usage.db"

    def small(p: Path) -> sqlite3.Connection:
        conn = connect(p)
        conn.execute("PRAGMA max_page_count = 8")  # SQLITE_FULL after a few pages
        return conn

    db = LedgerDB(path, opener=small)
    caplog.set_level(logging.INFO, logger="ccm.ledger")
    big = [row(time.time(), i) for i in range(2000)]
    db.write(big)
    assert db.dropped == 2000 and db.failing
    assert "full" in caplog.text
    db.write([row(time.time())])  # a small batch fits again
    assert not db.failing and db.written == 1
    assert "written again" in caplog.text
    assert count(path) == 1


def test_locked_database_drops_without_blocking_for_long(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    db = LedgerDB(path)
    db.write([row(time.time())])
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        t0 = time.monotonic()
        db.write([row(time.time())])
        assert db.dropped == 1
        assert time.monotonic() - t0 < 5  # the 2 s busy timeout, on the writer thread
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    db.write([row(time.time())])
    assert count(path) == 2


def test_batch_thread_batches_and_flushes() -> None:
    batches: list[list[int]] = []
    t = BatchThread(batches.append, interval=10)  # long interval: only flush wakes it
    t.start()
    try:
        for i in range(100):
            t.put(i)
        assert t.flush(5)
        assert [x for b in batches for x in b] == list(range(100))
        assert len(batches) == 1
    finally:
        t.stop()
    assert not t.running


def test_batch_thread_survives_a_failing_batch(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[int] = []

    def process(batch: list[int]) -> None:
        if 0 in batch:
            raise RuntimeError("boom")
        seen.extend(batch)

    t = BatchThread(process, interval=10)
    t.start()
    t.put(0)
    assert t.flush(5)
    t.put(1)
    assert t.flush(5)
    t.stop()
    assert seen == [1] and "boom" in caplog.text


def test_batch_thread_overflow_is_counted() -> None:
    over: list[int] = []
    t = BatchThread(lambda b: None, max_pending=3, on_overflow=over.append)
    for i in range(5):
        t.put(i)
    assert len(t.pending) == 3 and sum(over) == 2
