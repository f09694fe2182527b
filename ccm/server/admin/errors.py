"""The admin API's failures as exceptions, and the handlers that answer them Anthropic-shaped
with a message that says what to do. Handlers raise; they never return an error response."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response

from ccm.diagnostics import DiagnosticError
from ccm.wire.anthropic import error_dict


class AdminError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(AdminError):
    status = 404


class Conflict(AdminError):
    status = 409


class SaveFailed(AdminError):
    """Written, but the running config could not take it (reload failed)."""

    status = 500


class Invalid(AdminError):
    """The change would make a config (or rules) that does not load: nothing was written."""

    status = 422

    def __init__(self, error: DiagnosticError, what: str = "config") -> None:
        super().__init__(f"the {what} would not be valid; nothing was saved:\n{error}")
        self.diagnostics = [d.to_json() for d in error.diagnostics]


def _answer(exc: AdminError) -> Response[Any]:
    body: dict[str, Any] = error_dict(exc.status, exc.message)
    if isinstance(exc, Invalid):
        body["diagnostics"] = exc.diagnostics
    return Response(
        content=msgspec.json.encode(body), status_code=exc.status, media_type="application/json"
    )


def admin_error_handler(_request: Request[Any, Any, Any], exc: AdminError) -> Response[Any]:
    return _answer(exc)


HANDLERS = {AdminError: admin_error_handler}
