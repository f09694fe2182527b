"""Reading the ledger: what `ccm usage`, the status line and the admin page show.

Standard library only (sqlite3): `ccm statusline` imports this on its fast path. Reads open the
file read-only, so they work while ccm is stopped and never block its writer (WAL).
"""

from __future__ import annotations

import os
import sqlite3
import time

TYPE_CHECKING = False  # not `from typing import ...`: typing costs the status line start-up

if TYPE_CHECKING:
    from typing import Any

    Path = str | os.PathLike[str]

GROUPS = {
    "day": "date(ts, 'unixepoch', 'localtime')",
    "model": "COALESCE(actual_model, model)",
    "provider": "provider",
    "session": "session_id",
    "rule": "rule",
}
TOTAL_KEYS = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cost_usd",
)
SUMMARY_KEYS = (*TOTAL_KEYS, "errors", "unpriced_requests", "failovers")
_AGGREGATES = """
    COUNT(*),
    COALESCE(SUM(input_tokens), 0),
    COALESCE(SUM(output_tokens), 0),
    COALESCE(SUM(cache_read_input_tokens), 0),
    COALESCE(SUM(cache_creation_input_tokens), 0),
    SUM(cost_usd),
    COALESCE(SUM(status >= 400 OR error_type IS NOT NULL), 0),
    COALESCE(SUM(cost_usd IS NULL AND provider IS NOT NULL AND subscription = 0
                 AND input_tokens IS NOT NULL), 0),
    COALESCE(SUM(failover), 0)
"""
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class LedgerMissing(Exception):
    pass


def parse_since(text: str, now: float | None = None) -> float:
    """ "24h", "7d", "30m", "2w" ago, or a local date / date-time ("2026-12-01",
    "2026-12-01T08:00") -> unix time. ValueError otherwise."""
    import datetime as dt  # here, not at import: the status line never needs it

    now = time.time() if now is None else now
    span = text.strip().lower()
    if span[-1:] in _UNIT:
        try:
            return now - float(span[:-1]) * _UNIT[span[-1]]
        except ValueError:
            pass
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r}: expected a span such as 24h, 7d, 30m, or a date such as 2026-12-01"
        ) from None
    return when.timestamp()  # naive = local time


def connect_ro(path: Path) -> sqlite3.Connection:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise LedgerMissing(f"no usage ledger at {path}")
    conn = sqlite3.connect(f"file:{_uri(path)}?mode=ro", uri=True, timeout=2.0)
    conn.execute("PRAGMA query_only = ON")
    return conn


def _uri(path: str) -> str:
    """A file path as the path part of an SQLite URI (? and # would end it)."""
    return path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")


def _money(value: float | None) -> float | None:
    return None if value is None else round(value, 10)


def _summary(values: tuple[Any, ...]) -> dict[str, Any]:
    out = dict(zip(SUMMARY_KEYS, values, strict=True))
    out["cost_usd"] = _money(out["cost_usd"])
    return out


def usage(path: Path, since: float | None = None, by: str = "day") -> dict[str, Any]:
    """{"totals": {...}, "rows": [...]} over requests at or after `since` (unix time)."""
    if by not in GROUPS:
        raise ValueError(f"--by {by!r}: one of {', '.join(GROUPS)}")
    where, args = ("WHERE ts >= ?", (since,)) if since is not None else ("", ())
    conn = connect_ro(path)
    try:
        total = conn.execute(f"SELECT {_AGGREGATES} FROM requests {where}", args).fetchone()
        order = "key" if by == "day" else "COUNT(*) DESC, key"
        rows = conn.execute(
            f"SELECT {GROUPS[by]} AS key, {_AGGREGATES} FROM requests {where} "
            f"GROUP BY key ORDER BY {order}",
            args,
        ).fetchall()
    finally:
        conn.close()
    totals = _summary(total)
    return {
        "totals": {k: totals[k] for k in TOTAL_KEYS},
        "rows": [{by: r[0], **_summary(r[1:])} for r in rows],
    }


def session(path: Path, session_id: str) -> dict[str, Any] | None:
    """A session's last request (route, failover) and its totals; None if it has no rows."""
    conn = connect_ro(path)
    try:
        last = conn.execute(
            "SELECT rule, model, provider, actual_model, failover, status, error_type "
            "FROM requests WHERE session_id = ? ORDER BY ts DESC, id DESC LIMIT 1",
            (session_id,),
        ).fetchone()
        if last is None:
            return None
        total = conn.execute(
            f"SELECT {_AGGREGATES}, COALESCE(SUM(subscription), 0) FROM requests "
            "WHERE session_id = ?",
            (session_id,),
        ).fetchone()
    finally:
        conn.close()
    out = _summary(total[:-1])
    out["subscription_requests"] = total[-1]
    out["last"] = dict(
        zip(
            ("rule", "model", "provider", "actual_model", "failover", "status", "error_type"),
            last,
            strict=True,
        )
    )
    return out
