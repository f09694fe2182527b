"""What the translated upstreams' wire shapes share: token counts that may come as floats, the
OpenAI usage details (Chat's `prompt_tokens_details` and Responses' `input_tokens_details`
hold cached tokens; `completion_tokens_details` / `output_tokens_details` reasoning tokens), and
the `error` object (OpenAI's `message`/`type`/`code`/`param`, Google's `code`/`message`/
`status`) with one readable message made from it."""

from __future__ import annotations

from typing import Any

import msgspec

Number = int | float


class CachedTokensDetails(msgspec.Struct):
    cached_tokens: Number | None = None


class ReasoningTokensDetails(msgspec.Struct):
    reasoning_tokens: Number | None = None


class ErrorInfo(msgspec.Struct):
    message: str | None = None
    type: str | None = None  # OpenAI
    status: str | None = None  # Google
    code: Any = None
    param: Any = None


def error_message(error: ErrorInfo | str | None, fallback: str = "unknown error") -> str:
    """A readable message from an upstream `error` field: its message, then its type or
    status and its code in parentheses."""
    if error is None:
        return fallback
    if isinstance(error, str):
        return error or fallback
    code = str(error.code) if error.code is not None else None
    parts = [p for p in (error.type, error.status, code) if p]
    msg = error.message or fallback
    return f"{msg} ({', '.join(dict.fromkeys(parts))})" if parts else msg
