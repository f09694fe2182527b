"""Anthropic Messages wire shapes ccm produces itself: errors, messages, stream events."""

from __future__ import annotations

from typing import Any

import msgspec

_encode = msgspec.json.encode

# HTTP status -> Anthropic error type (https://docs.anthropic.com/en/api/errors)
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def error_dict(status: int, message: str, kind: str | None = None) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind or error_type(status), "message": message}}


def error_body(status: int, message: str, kind: str | None = None) -> bytes:
    """`{"type":"error","error":{"type":...,"message":...}}` as JSON bytes."""
    return _encode(error_dict(status, message, kind))


def error_event(status: int, message: str, kind: str | None = None) -> bytes:
    """The same error as an SSE `error` event, for failures after a stream has started."""
    return b"event: error\ndata: " + error_body(status, message, kind) + b"\n\n"


STOP_REASONS = ("end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal")
