"""The Litestar application: proxy endpoints, Anthropic-shaped errors, hot reload."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Request, Response
from litestar.exceptions import HTTPException, ValidationException

from ccm.runtime import State
from ccm.server.admin import admin_routes
from ccm.server.catalog import catalog_routes
from ccm.server.lifespan import serving
from ccm.server.metrics_route import metrics_routes
from ccm.server.proxy import error_response, proxy_routes

log = logging.getLogger("ccm")


def _http_error(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    detail = exc.detail or "error"
    if status == 413:
        detail = "request body is larger than server.max_body_bytes"
    elif status == 404:
        detail = f"no such endpoint: {request.method} {request.url.path}"
    elif status == 405:
        detail = f"method {request.method} not allowed on {request.url.path}"
    elif isinstance(exc, ValidationException):
        problems = [
            f"{e.get('key') or 'body'}: {e.get('message')}"
            for e in (exc.extra if isinstance(exc.extra, list) else [])
            if isinstance(e, dict)
        ]
        detail = "invalid request body" + (": " + "; ".join(problems) if problems else "")
    return error_response(status, detail)


def _too_deep(_request: Request, _exc: RecursionError) -> Response:
    return error_response(400, "request body is nested too deeply")


def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, f"internal error in ccm: {type(exc).__name__}")


def create_app(state: State, *, watch: bool = True, lifespan: bool = True) -> Litestar:
    """The Litestar app. `lifespan=False` when the layer in front of it (the fast path, which
    builds this app on its first request for a route of its own) runs start-up and shutdown."""

    async def fresh(_request: Request) -> None:
        await state.fresh()  # an admin write through another worker: apply it first

    @asynccontextmanager
    async def running(_app: Litestar) -> AsyncIterator[None]:
        async with serving(state, watch=watch):
            yield

    return Litestar(
        route_handlers=[
            *proxy_routes(state),
            *admin_routes(state),
            *metrics_routes(state),
            catalog_routes(state),
        ],
        exception_handlers={
            HTTPException: _http_error,
            RecursionError: _too_deep,
            Exception: _internal_error,
        },
        request_max_body_size=state.runtime.config.server.max_body_bytes,
        lifespan=[running] if lifespan else [],
        before_request=fresh,
        openapi_config=None,
        logging_config=None,  # ccm configures logging itself (cli start); never reconfigure the root logger
        debug=False,
    )
