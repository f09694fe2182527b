"""Guards of the admin API, one job each: who may call it at all, and what a write must look
like (JSON, same origin) so that a form or a page on another site cannot write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from ccm.runtime import State
from ccm.server.access import is_admin, same_origin

WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})
Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]


def admin_guard(state: State) -> Guard:
    """Loopback clients naming this machine by address, or the admin token (ccm/server/access.py)."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
        peer = connection.client.host if connection.client else None
        ok, why = is_admin(connection.headers, peer, state.runtime.config.server)
        if ok:
            return
        if why and why.startswith("admin token required"):
            raise NotAuthorizedException(why)
        raise PermissionDeniedException(why or "not allowed")

    return guard


def json_writes(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
    """Writes take JSON (a form post cannot) and, from a browser, come from this origin."""
    if connection.scope.get("method") not in WRITE_METHODS:
        return
    headers = connection.headers
    ctype = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise HTTPException(
            status_code=415, detail="admin writes take Content-Type: application/json"
        )
    if not same_origin(headers):
        raise PermissionDeniedException(
            f"cross-origin write refused (Origin {headers.get('origin')})"
        )
