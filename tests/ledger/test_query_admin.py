"""What the admin page reads (ccm/ledger/query.py stats / requests / request / choices) against
rows written by the ledger: percentiles and local-time buckets worked by hand."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccm.ledger.db import COLUMNS, LedgerDB
from ccm.ledger.query import request, requests, stats, where
from ccm.server.admin.usage import buckets, week_start


@pytest.fixture
def berlin() -> Iterator[None]:
    """Local time with an offset and DST, so local buckets differ from UTC ones."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def local(*args: int) -> float:
    return dt.datetime(*args).timestamp()  # naive: local time


def write(path: Path, rows: list[dict]) -> None:
    db = LedgerDB(path, retention_days=0)
    out = []
    for i, fields in enumerate(rows):
        v = dict.fromkeys(COLUMNS)
        v.update(status=200, provider="p", model="m", actual_model="a", request_id=f"r{i}")
        v.update(fields)
        out.append(tuple(v[c] for c in COLUMNS))
    db.write(out)
    db.close()


def test_percentiles_are_nearest_rank_over_answered_requests(tmp_path: Path) -> None:
    path = tmp_path / "u.db"
    t0 = time.time() - 60
    # 20 answered requests taking 10, 20, ... 200 ms (ttfb a tenth), and two failures that
    # must not count: a quick 429 and a slow 504
    rows = [{"ts": t0, "total_ms": 10.0 * i, "ttfb_ms": float(i)} for i in range(20, 0, -1)]
    rows += [{"ts": t0, "status": 429, "total_ms": 1.0}, {"ts": t0, "status": 504, "total_ms": 9e4}]
    rows += [{"ts": t0, "provider": "q", "total_ms": 7.0, "ttfb_ms": None}]
    write(path, rows)
    (p,) = [r for r in stats(path, by="provider") if r["key"] == "p"]
    assert p["requests"] == 22 and p["errors"] == 2
    # nearest rank: p50 = the 10th of 20 (100 ms), p95 = the 19th (190 ms)
    assert (p["p50_ms"], p["p95_ms"]) == (100.0, 190.0)
    assert (p["ttfb_p50_ms"], p["ttfb_p95_ms"]) == (10.0, 19.0)
    (q,) = [r for r in stats(path, by="provider") if r["key"] == "q"]
    assert (q["p50_ms"], q["p95_ms"], q["ttfb_p50_ms"]) == (7.0, 7.0, None)
    (total,) = stats(path)
    assert total["requests"] == 23 and total["p50_ms"] == 100.0  # 21 answered: the 11th


def test_local_hour_and_day_buckets(tmp_path: Path, berlin: None) -> None:
    path = tmp_path / "u.db"
    # Berlin is UTC+1 in January: 23:30 local on the 10th is 22:30 UTC, still the 10th
    write(
        path,
        [
            {"ts": local(2026, 1, 10, 0, 5)},
            {"ts": local(2026, 1, 10, 23, 30)},
            {"ts": local(2026, 1, 11, 0, 30)},
            {"ts": local(2026, 1, 11, 0, 45)},
        ],
    )
    days = stats(path, bucket="day")
    assert [(r["t"], r["requests"]) for r in days] == [
        (local(2026, 1, 10), 2),
        (local(2026, 1, 11), 2),
    ]
    hours = stats(path, bucket="hour")
    assert [(r["t"], r["requests"]) for r in hours] == [
        (local(2026, 1, 10, 0), 1),
        (local(2026, 1, 10, 23), 1),
        (local(2026, 1, 11, 0), 2),
    ]
    # the page's buckets are the same instants, across the spring DST change too (23 h day)
    span = buckets(local(2026, 1, 10, 0, 5), local(2026, 1, 12), "day")
    assert span == [local(2026, 1, 10), local(2026, 1, 11)]
    spring = buckets(local(2026, 3, 28, 12), local(2026, 3, 31), "day")
    assert spring == [local(2026, 3, 28), local(2026, 3, 29), local(2026, 3, 30)]
    assert spring[2] - spring[1] == 23 * 3600
    assert buckets(local(2026, 1, 10, 22, 59), local(2026, 1, 11, 0, 1), "hour") == [
        local(2026, 1, 10, 22),
        local(2026, 1, 10, 23),
        local(2026, 1, 11, 0),
    ]
    assert week_start(local(2026, 1, 11, 15)) == local(2026, 1, 5)  # Sunday -> that Monday
    assert week_start(local(2026, 1, 12, 0, 1)) == local(2026, 1, 12)


def test_filters_and_one_request(tmp_path: Path) -> None:
    path = tmp_path / "u.db"
    now = time.time()
    write(
        path,
        [
            {"ts": now - 30, "session_id": "s1", "requested_model": "claude-x"},
            {"ts": now - 20, "session_id": "s2", "status": 429, "error_type": "rate_limit_error"},
            {"ts": now - 10, "session_id": "s2", "failover": 1, "attempts": '[{"provider":"p"}]'},
            {"ts": now, "session_id": "s2", "status": 200, "error_type": "overloaded_error"},
        ],
    )
    assert requests(path, {"status": "error"})[0] == 2  # an error event in a 200 stream too
    assert requests(path, {"status": "ok"})[0] == 2
    assert requests(path, {"status": "4xx", "session_id": "s2"})[0] == 1
    assert requests(path, {"model": "claude-x"})[0] == 1  # as the client asked for it
    total, rows = requests(path, {"session_id": "s2"}, limit=2, offset=1)
    assert total == 3 and [r["request_id"] for r in rows] == ["r2", "r1"]
    assert request(path, "r2")["attempts"] == [{"provider": "p"}]
    assert request(path, "r0")["attempts"] == []
    assert request(path, "nope") is None
    with pytest.raises(ValueError, match="one of ok, error"):
        where(status="sometimes")
