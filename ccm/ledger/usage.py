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


@dataclass(slots=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    error_type: str | None = None  # the type of an SSE `error` event that ended a stream

    def take(self, c: _Counts | None) -> None:
        """Overlay the counts an event carries (later events win: message_delta is final)."""
        if c is None:
            return
        if c.input_tokens is not None and c.input_tokens >= 0:
            self.input_tokens = c.input_tokens
        if c.output_tokens is not None and c.output_tokens >= 0:
            self.output_tokens = c.output_tokens
        if c.cache_read_input_tokens is not None and c.cache_read_input_tokens >= 0:
            self.cache_read_input_tokens = c.cache_read_input_tokens
        if c.cache_creation_input_tokens is not None and c.cache_creation_input_tokens >= 0:
            self.cache_creation_input_tokens = c.cache_creation_input_tokens

    @property
    def known(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None


class _Counts(msgspec.Struct):
    """The counts of an Anthropic usage object (other fields are skipped while decoding)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None


class _Message(msgspec.Struct):
    usage: _Counts | None = None


_counts = msgspec.json.Decoder(_Counts)


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


# the usage object of message_start / message_delta (one level of nesting: cache_creation)
_USAGE_OBJECT = re.compile(rb'"usage":\s*(\{(?:[^{}]+|\{[^{}]*\})*\})')
_ERROR_DATA = re.compile(rb"(?:^|\n)event: *error\r?\ndata: *([^\n]*)")


def stream_usage(chunks: list[bytes]) -> Usage:
    """Decode the usage objects in the kept chunks of a stream, in order: only message_start
    and message_delta carry one, and the later (message_delta: final counts) wins."""
    out = Usage()
    for chunk in chunks:
        for m in _USAGE_OBJECT.finditer(chunk):
            try:
                out.take(_counts.decode(m.group(1)))
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
        if b"event: error" in chunk or b"event:error" in chunk:
            for m in _ERROR_DATA.finditer(chunk):
                try:
                    payload = _any.decode(m.group(1))
                except msgspec.DecodeError:
                    out.error_type = "error"
                    continue
                err = payload.get("error") if isinstance(payload, dict) else None
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
