"""GET /metrics: Prometheus text. Guarded like the admin API (loopback, or the admin token),
or by its own `[metrics] token` for a scraper on another host."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from typing import Any

from litestar import Response, get
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from ccm.config.secrets import MissingSecret, resolve
from ccm.runtime import State
from ccm.server.admin import admin_guard
from ccm.server.proxy import error_response


def _given_token(connection: ASGIConnection) -> str:
    auth = connection.headers.get("authorization") or ""
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return connection.headers.get("x-ccm-metrics-token") or ""


def metrics_guard(state: State) -> Callable[[ASGIConnection, BaseRouteHandler], None]:
    admin = admin_guard(state)

    def guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
        configured = state.runtime.config.metrics.token
        if configured:
            try:
                token = resolve(configured, "metrics.token")
            except MissingSecret:
                token = None
            given = _given_token(connection)
            if token and given and hmac.compare_digest(given.encode(), token.encode()):
                return
        admin(connection, handler)

    return guard


def metrics_routes(state: State) -> list[Any]:
    @get("/metrics", guards=[metrics_guard(state)])
    async def metrics() -> Response:
        m = state.metrics
        if m is None:
            return error_response(
                404, "metrics are off ([metrics] enabled = false)", "not_found_error"
            )
        # what has finished so far is counted: the writer thread applies it in batches
        await asyncio.to_thread(state.ledger.flush, 1.0)
        m.set_circuits(state.health, [p.name for p in state.runtime.config.providers])
        body, ctype = m.exposition()
        return Response(content=body, media_type=ctype)

    return [metrics]
