"""What `ccm usage` and the status line read, against rows written by the ledger."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from ccm.ledger.db import LedgerDB
from ccm.ledger.query import LedgerMissing, parse_since, session, usage
from ccm.ledger.statusline import render
from tests.ledger.traffic import add_row

NOW = time.time()


def add(db: LedgerDB, **fields: object) -> None:
    add_row(db, **{"ts": NOW, **fields})


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "usage.db"
    db = LedgerDB(path, retention_days=0)
    add(db, session_id="s1", cost_usd=0.001, ts=NOW - 3 * 86400)
    add(
        db,
        session_id="s1",
        cost_usd=0.002,
        cache_read_input_tokens=100,
        rule="think",
        model="big",
        provider="q",
        actual_model="b",
        failover=1,
    )
    add(db, session_id="s2", cost_usd=None, provider="q", actual_model="b")  # unpriced
    add(
        db,
        session_id="s2",
        status=429,
        error_type="rate_limit_error",
        provider=None,
        actual_model=None,
        input_tokens=None,
        output_tokens=None,
    )
    add(db, session_id="s3", cost_usd=None, subscription=1)
    db.close()
    return path


def test_parse_since() -> None:
    assert parse_since("24h", now=1000.0 + 86400) == 1000.0
    assert parse_since("7d", now=7 * 86400.0) == 0.0
    assert parse_since("30m", now=1800.0) == 0.0
    assert parse_since("2026-12-01") == dt.datetime(2026, 12, 1).timestamp()
    with pytest.raises(ValueError, match="--since"):
        parse_since("yesterday")


def test_totals_and_groups(ledger: Path) -> None:
    data = usage(ledger)
    assert data["totals"] == {
        "requests": 5,
        "input_tokens": 40,
        "output_tokens": 20,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 0,
        "cost_usd": 0.003,
    }
    recent = usage(ledger, since=parse_since("24h"))
    assert recent["totals"]["requests"] == 4 and recent["totals"]["cost_usd"] == 0.002
    rows = {r["provider"]: r for r in usage(ledger, by="provider")["rows"]}
    assert rows["q"]["requests"] == 2 and rows["q"]["unpriced_requests"] == 1
    assert rows[None]["errors"] == 1
    days = usage(ledger, by="day")["rows"]
    assert [r["requests"] for r in days] == [1, 4]  # oldest first
    rules = {r["rule"]: r["failovers"] for r in usage(ledger, by="rule")["rows"]}
    assert rules == {"default": 0, "think": 1}
    with pytest.raises(ValueError):
        usage(ledger, by="colour")


def test_no_ledger(tmp_path: Path) -> None:
    with pytest.raises(LedgerMissing):
        usage(tmp_path / "none.db")
    assert render(tmp_path / "none.db", "s1") == "ccm: no usage recorded yet"


def test_session_and_status_line(ledger: Path) -> None:
    s = session(ledger, "s1")
    assert s is not None and s["requests"] == 2 and s["cost_usd"] == 0.003
    assert s["last"]["actual_model"] == "b"
    assert (
        render(ledger, "s1")
        == "ccm think -> big -> q / b (failed over) | 120 in, 10 out (100 cached) | $0.0030"
    )
    assert render(ledger, "s2").startswith("ccm default -> m -> no provider (429)")
    assert render(ledger, "s2").endswith("| $0.0000+?") is False
    assert render(ledger, "s2").endswith("cost n/a")
    assert render(ledger, "s3").endswith("subscription")
    assert render(ledger, "nobody") == "ccm: no requests in this session yet"
    assert render(ledger, None) == "ccm: no session id from Claude Code"
