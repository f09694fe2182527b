"""/api/usage: the usage ledger for the admin page (ccm/ledger/query.py does the reading, as it
does for `ccm usage`): usage over time by provider and by model, the requests with filters and
paging, one request with its attempts, and today's / this week's cost.

Reads run on a worker thread after the ledger's writer has applied what has finished, so a
request sent a moment ago is there. A ledger that is off or not written yet is an empty
answer with `enabled` / `message` saying so, never an error.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import time
from collections.abc import Callable
from typing import Any, Literal

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from ccm.ledger import query
from ccm.ledger.query import LedgerMissing
from ccm.runtime import State
from ccm.server.admin.errors import AdminError, NotFound

MAX_BUCKETS = 2000
MAX_PAGE = 500
SERIES_KEYS = (*query.TOTAL_KEYS, "errors", *query.PERCENTILE_KEYS)
SUMS = ("requests", "input_tokens", "output_tokens", "cost_usd", "errors")


class LedgerUnreadable(AdminError):
    status = 503


def _when(text: str | None, what: str, now: float) -> float | None:
    """A unix time, a span ago (24h, 7d) or a local date (2026-12-01)."""
    if text is None or not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return query.parse_since(text, now)
    except ValueError:
        raise AdminError(
            f"{what}={text!r}: give a span such as 24h or 7d, a date such as 2026-12-01, "
            "or a unix time"
        ) from None


def _local_midnight(day: dt.date) -> float:
    return dt.datetime.combine(day, dt.time()).timestamp()


def buckets(since: float, until: float, size: str) -> list[int]:
    """The start (unix time) of every local hour or day from `since` to `until`, as the
    ledger's query buckets them."""
    out: list[int] = []
    if size == "day":
        day = dt.datetime.fromtimestamp(since).date()
        while (start := _local_midnight(day)) < until and len(out) <= MAX_BUCKETS:
            out.append(int(start))
            day += dt.timedelta(days=1)
        return out
    start = dt.datetime.fromtimestamp(since).replace(minute=0, second=0, microsecond=0)
    t = start.timestamp()
    while t < until and len(out) <= MAX_BUCKETS:
        out.append(int(t))
        t += 3600
    return out


def week_start(now: float) -> float:
    today = dt.datetime.fromtimestamp(now).date()
    return _local_midnight(today - dt.timedelta(days=today.weekday()))


class UsageController(Controller):
    path = "/usage"

    @get("/")
    async def usage(
        self,
        ccm_state: NamedDependency[State],
        since: FromQuery[str] = "24h",
        until: FromQuery[str | None] = None,
        bucket: FromQuery[Literal["auto", "hour", "day"]] = "auto",
        by: FromQuery[Literal["provider", "model"]] = "provider",
    ) -> dict[str, Any]:
        """Totals, a timeline (one value per bucket), the same split by provider or model
        (`series`, for stacked charts), and totals by provider and by model."""
        now = time.time()
        start = _when(since, "since", now)
        assert start is not None
        end = _when(until, "until", now) or now
        if end <= start:
            raise AdminError("until must be after since")
        size = bucket if bucket != "auto" else ("hour" if end - start <= 3 * 86400 else "day")
        times = buckets(start, end, size)
        if len(times) > MAX_BUCKETS:
            raise AdminError(
                f"{len(times)}+ {size}s is too many points: use bucket=day or a shorter range"
            )
        answer: dict[str, Any] = {
            "since": start,
            "until": end,
            "bucket": size,
            "by": by,
            "totals": _zero(),
            "timeline": {"t": times} | {k: [_none_or_zero(k)] * len(times) for k in SERIES_KEYS},
            "series": {"by": by, "keys": []} | {k: [] for k in SUMS},
            "by_provider": [],
            "by_model": [],
        }

        def read(path: str) -> dict[str, Any]:
            (totals,) = query.stats(path, start, end) or [_zero()]
            timeline = query.stats(path, start, end, bucket=size)
            split = query.stats(path, start, end, bucket=size, by=by)
            providers = query.stats(path, start, end, by="provider")
            models = query.stats(path, start, end, by="model")
            index = {t: i for i, t in enumerate(times)}
            for row in timeline:
                i = index.get(row["t"])
                if i is not None:
                    for k in SERIES_KEYS:
                        answer["timeline"][k][i] = row[k]
            keys = [r["key"] for r in (providers if by == "provider" else models)]
            series = answer["series"]
            series["keys"] = keys
            for k in SUMS:
                series[k] = [[0] * len(times) for _ in keys]
            at = {key: n for n, key in enumerate(keys)}
            for row in split:
                i, n = index.get(row["t"]), at.get(row["key"])
                if i is not None and n is not None:
                    for k in SUMS:
                        series[k][n][i] = row[k]
            answer["totals"] = totals
            answer["by_provider"] = [_named(r, "provider") for r in providers]
            answer["by_model"] = [_named(r, "model") for r in models]
            return answer

        return await _read(ccm_state, read, answer)

    @get("/summary")
    async def summary(self, ccm_state: NamedDependency[State]) -> dict[str, Any]:
        """Today's and this week's (from Monday, local time) totals, for the overview."""
        now = time.time()
        today = _local_midnight(dt.datetime.fromtimestamp(now).date())
        week = week_start(now)
        answer: dict[str, Any] = {
            "today": {"since": today} | _zero(),
            "week": {"since": week} | _zero(),
        }

        def read(path: str) -> dict[str, Any]:
            for name, since in (("today", today), ("week", week)):
                (row,) = query.stats(path, since) or [_zero()]
                answer[name] = {"since": since} | row
            return answer

        return await _read(ccm_state, read, answer)

    @get("/requests")
    async def requests(
        self,
        ccm_state: NamedDependency[State],
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
        session: FromQuery[str | None] = None,
        model: FromQuery[str | None] = None,
        provider: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        limit: FromQuery[int] = 50,
        offset: FromQuery[int] = 0,
    ) -> dict[str, Any]:
        """Requests newest first, filtered, a page at a time; `total` counts every match."""
        now = time.time()
        filters = {
            "since": _when(since, "since", now),
            "until": _when(until, "until", now),
            "session_id": session or None,
            "model": model or None,
            "provider": provider or None,
            "status": (status or "").strip().lower() or None,
        }
        if filters["status"] is not None:
            try:
                query.where(status=filters["status"])
            except ValueError as e:
                raise AdminError(str(e)) from None
        limit = max(1, min(limit, MAX_PAGE))
        offset = max(0, offset)
        answer: dict[str, Any] = {"total": 0, "limit": limit, "offset": offset, "rows": []}

        def read(path: str) -> dict[str, Any]:
            answer["total"], answer["rows"] = query.requests(path, filters, limit, offset)
            return answer

        return await _read(ccm_state, read, answer)

    @get("/requests/{request_id:str}")
    async def request(
        self, ccm_state: NamedDependency[State], request_id: FromPath[str]
    ) -> dict[str, Any]:
        """One request, with every attempt (provider, model, status, reason, ms)."""
        found: dict[str, Any] = {}

        def read(path: str) -> dict[str, Any]:
            row = query.request(path, request_id)
            if row is None:
                raise NotFound(f"no request {request_id!r} in the usage ledger")
            found.update(row)
            return found

        answer = await _read(ccm_state, read, found)
        if not answer.get("request_id"):  # the ledger is off or has no file yet
            raise NotFound(f"no request {request_id!r}: {answer['message']}")
        return answer

    @get("/filters")
    async def filters(
        self, ccm_state: NamedDependency[State], since: FromQuery[str | None] = "7d"
    ) -> dict[str, Any]:
        """What the Requests view's filters offer: providers, models and recent sessions."""
        start = _when(since, "since", time.time())
        answer: dict[str, Any] = {
            "providers": [],
            "models": [],
            "sessions": [],
            "statuses": [*query.STATUS_FILTERS],
        }

        def read(path: str) -> dict[str, Any]:
            return answer | query.choices(path, start)

        return await _read(ccm_state, read, answer)


def _zero() -> dict[str, Any]:
    return (
        {k: None if k == "cost_usd" else 0 for k in query.TOTAL_KEYS}
        | {
            "errors": 0,
            "unpriced_requests": 0,
            "failovers": 0,
        }
        | dict.fromkeys(query.PERCENTILE_KEYS)
    )


def _none_or_zero(key: str) -> int | None:
    return None if key == "cost_usd" or key in query.PERCENTILE_KEYS else 0


def _named(row: dict[str, Any], name: str) -> dict[str, Any]:
    return {name: row["key"]} | {k: v for k, v in row.items() if k != "key"}


async def _read(
    state: State, read: Callable[[str], dict[str, Any]], empty: dict[str, Any]
) -> dict[str, Any]:
    """`read(path)` on a worker thread, with `enabled`, `path` and `message` added; the empty
    answer when the ledger is off or has no file yet."""
    ledger = state.ledger
    path = str(ledger.path)
    if ledger.db is None:
        return empty | {
            "enabled": False,
            "path": path,
            "message": "The usage ledger is off ([ledger] enabled = false in the config): "
            "remove that line and restart ccm to record requests.",
        }
    await asyncio.to_thread(ledger.flush, 1.0)  # what has finished is in the file
    try:
        out = await asyncio.to_thread(read, path)
    except LedgerMissing:
        return empty | {
            "enabled": True,
            "path": path,
            "message": "No requests recorded yet: the ledger is written as ccm serves them.",
        }
    except (sqlite3.Error, OSError) as e:
        raise LedgerUnreadable(
            f"the usage ledger {path} cannot be read ({type(e).__name__}: {e}); if it is "
            "damaged, move it aside and ccm starts a new one"
        ) from None
    return out | {"enabled": True, "path": path, "message": None}


__all__ = ["UsageController"]
