"""Token usage read from the Anthropic-shaped answer ccm sends its client, whatever the dialect
behind it: a message's `usage`, or a stream's `message_start` (`message.usage`) and
`message_delta` (`usage`: the final output_tokens, and cache fields some upstreams send late).

The request path only looks for the bytes `"usage"` and a line `event: error` in each chunk
ccm sends (inside JSON strings quotes and newlines are escaped, so text never matches) and keeps the few chunks
that hold them; decoding happens later, on the ledger's writer thread.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

import msgspec

_USAGE = b'"usage"'
_ERROR = b"event: error\n"  # at a line start: JSON strings hold no raw newline
MAX_KEPT = 16  # chunks kept per stream; a normal stream has two that matter


_COUNTS = frozenset(
    ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
)


@dataclass(slots=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    error_type: str | None = None  # the type of an SSE `error` event that ended a stream

    def take(self, fields: object) -> None:
        """Overlay the counts an event carries (later events win: message_delta is final)."""
        if not isinstance(fields, dict):
            return
        for name, value in fields.items():
            if name in _COUNTS and type(value) is int and value >= 0:
                setattr(self, name, value)

    @property
    def known(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None


class _Message(msgspec.Struct):
    usage: dict[str, object] | None = None


_message = msgspec.json.Decoder(_Message)
_any = msgspec.json.Decoder()


def message_usage(body: bytes) -> Usage:
    """The usage of a non-stream answer (an Anthropic message); empty when it has none."""
    out = Usage()
    with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
        out.take(_message.decode(body).usage)
    return out


class StreamTap:
    """Kept on the request path: `feed(chunk)` is two byte searches."""

    __slots__ = ("kept",)

    def __init__(self) -> None:
        self.kept: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        if (_USAGE in chunk or chunk.startswith(_ERROR) or b"\n" + _ERROR in chunk) and len(
            self.kept
        ) < MAX_KEPT:
            self.kept.append(chunk)


_EVENT = re.compile(rb"^(?:event: *([a-z_]+)\r?\n)?data: *(.+)$", re.MULTILINE)


def stream_usage(chunks: list[bytes]) -> Usage:
    """Decode the kept chunks of a stream (whole SSE events: ccm writes them whole); only the
    data lines that hold usage or an error are decoded."""
    out = Usage()
    for chunk in chunks:
        for m in _EVENT.finditer(chunk):
            data = m.group(2)
            if _USAGE not in data and m.group(1) != b"error":
                continue
            try:
                payload = _any.decode(data)
            except msgspec.DecodeError:
                continue
            if not isinstance(payload, dict):
                continue
            kind = payload.get("type")
            if kind == "message_start":
                message = payload.get("message")
                if isinstance(message, dict):
                    out.take(message.get("usage"))
            elif kind == "message_delta":
                out.take(payload.get("usage"))
            elif kind == "error" or m.group(1) == b"error":
                err = payload.get("error")
                etype = err.get("type") if isinstance(err, dict) else None
                out.error_type = etype if isinstance(etype, str) else "error"
    return out


class _ErrorInner(msgspec.Struct):
    type: str | None = None


class _ErrorBody(msgspec.Struct):
    error: _ErrorInner | None = None


_error_body = msgspec.json.Decoder(_ErrorBody)


def error_type(body: bytes) -> str | None:
    """The `error.type` of an Anthropic-shaped error body, if it is one."""
    try:
        err = _error_body.decode(body).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return err.type if err is not None else None
