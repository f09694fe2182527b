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


# ---- the admin page: filtered requests, time buckets, latency percentiles -----------------

BUCKETS = {  # the start of the request's local hour / day, as unix time
    "hour": "CAST(strftime('%s', strftime('%Y-%m-%d %H:00:00', ts, 'unixepoch', 'localtime'), "
    "'utc') AS INTEGER)",
    "day": "CAST(strftime('%s', date(ts, 'unixepoch', 'localtime'), 'utc') AS INTEGER)",
}
STATUS_FILTERS = {
    "ok": "(status < 400 AND error_type IS NULL)",
    "error": "(status >= 400 OR error_type IS NOT NULL)",
    "failover": "failover = 1",
    "4xx": "(status >= 400 AND status < 500)",
    "5xx": "status >= 500",
}
LISTED = (  # the columns of a listed request (attempts only in `request`)
    "id",
    "ts",
    "request_id",
    "session_id",
    "rule",
    "requested_model",
    "model",
    "provider",
    "actual_model",
    "status",
    "error_type",
    "stream",
    "attempt_count",
    "failover",
    "ttfb_ms",
    "total_ms",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cost_usd",
    "subscription",
)
PERCENTILE_KEYS = ("p50_ms", "p95_ms", "ttfb_p50_ms", "ttfb_p95_ms")


def where(
    since: float | None = None,
    until: float | None = None,
    session_id: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    status: str | None = None,
) -> tuple[str, tuple[Any, ...]]:
    """A WHERE clause (or "") and its arguments. `model` matches the requested, logical or
    upstream model; `status` is ok, error, failover, 4xx, 5xx or one HTTP status."""
    given = (
        ("ts >= ?", since, since is not None),
        ("ts < ?", until, until is not None),
        ("session_id = ?", session_id, bool(session_id)),
        ("? IN (model, actual_model, requested_model)", model, bool(model)),
        ("provider = ?", provider, bool(provider)),
    )
    parts = [clause for clause, _, on in given if on]
    args: list[Any] = [value for _, value, on in given if on]
    if status:
        if status in STATUS_FILTERS:
            parts.append(STATUS_FILTERS[status])
        elif status.isdigit():
            parts.append("status = ?")
            args.append(int(status))
        else:
            raise ValueError(f"status {status!r}: one of {', '.join(STATUS_FILTERS)} or a number")
    return ("WHERE " + " AND ".join(parts) if parts else ""), tuple(args)


def stats(
    path: Path,
    since: float | None = None,
    until: float | None = None,
    *,
    bucket: str | None = None,
    by: str | None = None,
) -> list[dict[str, Any]]:
    """The ledger's sums (as `usage` rows) with latency percentiles, per time bucket ("hour",
    "day", or None) and per group (a GROUPS key, or None), ordered by bucket then requests.
    p50_ms / p95_ms (to the last byte) and ttfb_p50_ms / ttfb_p95_ms (to the first) are
    nearest-rank percentiles over answered requests (status < 400); null when there are none.
    Each row has `t` (the bucket's start, unix time) when bucketed and `key` when grouped."""
    if bucket is not None and bucket not in BUCKETS:
        raise ValueError(f"bucket {bucket!r}: one of {', '.join(BUCKETS)}")
    if by is not None and by not in GROUPS:
        raise ValueError(f"by {by!r}: one of {', '.join(GROUPS)}")
    t = BUCKETS[bucket] if bucket else "NULL"
    key = GROUPS[by] if by else "NULL"
    cond, args = where(since, until)
    conn = connect_ro(path)
    try:
        sums = conn.execute(
            f"SELECT {t} AS t, {key} AS key, {_AGGREGATES} FROM requests {cond} "
            "GROUP BY t, key ORDER BY t, COUNT(*) DESC, key",
            args,
        ).fetchall()
        answered = f"{cond} AND" if cond else "WHERE"
        ranks = conn.execute(
            "SELECT t, key,"
            " MIN(CASE WHEN r1 >= 0.5 * n1 THEN total_ms END),"
            " MIN(CASE WHEN r1 >= 0.95 * n1 THEN total_ms END),"
            " MIN(CASE WHEN r2 >= 0.5 * n2 THEN ttfb_ms END),"
            " MIN(CASE WHEN r2 >= 0.95 * n2 THEN ttfb_ms END) "
            "FROM (SELECT t, key, total_ms, ttfb_ms,"
            "  ROW_NUMBER() OVER (PARTITION BY t, key ORDER BY total_ms IS NULL, total_ms) AS r1,"
            "  COUNT(total_ms) OVER (PARTITION BY t, key) AS n1,"
            "  ROW_NUMBER() OVER (PARTITION BY t, key ORDER BY ttfb_ms IS NULL, ttfb_ms) AS r2,"
            "  COUNT(ttfb_ms) OVER (PARTITION BY t, key) AS n2"
            f" FROM (SELECT {t} AS t, {key} AS key, total_ms, ttfb_ms FROM requests"
            f"  {answered} status < 400)) GROUP BY t, key",
            args,
        ).fetchall()
    finally:
        conn.close()
    latency = {(r[0], r[1]): r[2:] for r in ranks}
    out = []
    for r in sums:
        row: dict[str, Any] = {}
        if bucket:
            row["t"] = r[0]
        if by:
            row["key"] = r[1]
        row.update(_summary(r[2:]))
        row.update(zip(PERCENTILE_KEYS, latency.get((r[0], r[1]), (None,) * 4), strict=True))
        out.append(row)
    return out


def requests(
    path: Path,
    filters: dict[str, Any],
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[dict[str, Any]]]:
    """(how many match, the page of them newest first) for `where(**filters)`."""
    cond, args = where(**filters)
    conn = connect_ro(path)
    try:
        (total,) = conn.execute(f"SELECT COUNT(*) FROM requests {cond}", args).fetchone()
        rows = conn.execute(
            f"SELECT {', '.join(LISTED)} FROM requests {cond} "
            "ORDER BY ts DESC, id DESC LIMIT ? OFFSET ?",
            (*args, limit, offset),
        ).fetchall()
    finally:
        conn.close()
    return total, [dict(zip(LISTED, r, strict=True)) for r in rows]


def request(path: Path, request_id: str) -> dict[str, Any] | None:
    """One request by its request id (x-ccm-request-id), attempts decoded; None if unknown."""
    import json

    columns = (*LISTED, "client_key", "provider_key", "attempts")
    conn = connect_ro(path)
    try:
        row = conn.execute(
            f"SELECT {', '.join(columns)} FROM requests WHERE request_id = ? "
            "ORDER BY id DESC LIMIT 1",
            (request_id,),
        ).fetchone()
    finally:
        conn.close()
    if row is None:
        return None
    out = dict(zip(columns, row, strict=True))
    try:
        out["attempts"] = json.loads(out["attempts"]) if out["attempts"] else []
    except ValueError:
        out["attempts"] = []
    return out


def choices(path: Path, since: float | None = None, sessions: int = 50) -> dict[str, Any]:
    """What the filters can be set to: providers and models seen since `since`, and the
    most recent sessions with their request counts."""
    cond, args = where(since)
    and_ = f"{cond} AND" if cond else "WHERE"
    conn = connect_ro(path)
    try:
        providers = conn.execute(
            f"SELECT DISTINCT provider FROM requests {and_} provider IS NOT NULL ORDER BY 1", args
        ).fetchall()
        models = conn.execute(
            f"SELECT m FROM (SELECT model AS m FROM requests {cond} UNION "
            f"SELECT actual_model FROM requests {cond}) WHERE m IS NOT NULL ORDER BY 1",
            args + args,
        ).fetchall()
        recent = conn.execute(
            f"SELECT session_id, COUNT(*), MAX(ts) FROM requests {and_} session_id IS NOT NULL "
            "GROUP BY session_id ORDER BY MAX(ts) DESC LIMIT ?",
            (*args, sessions),
        ).fetchall()
    finally:
        conn.close()
    return {
        "providers": [r[0] for r in providers],
        "models": [r[0] for r in models],
        "sessions": [{"session_id": s, "requests": n, "last_ts": ts} for s, n, ts in recent],
    }
