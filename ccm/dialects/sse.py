"""Server-sent events: an incremental decoder for upstream streams and an encoder for ours."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SSEEvent:
    event: str  # "" when the stream gave no `event:` line
    data: str  # data lines joined with "\n"


class SSEDecoder:
    """Feed raw bytes as they arrive; get whole events. Handles \\n, \\r\\n and \\r line ends
    and multi-byte UTF-8 split across chunks."""

    __slots__ = ("_buf", "_data", "_event")

    def __init__(self) -> None:
        self._buf = b""
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buf = self._buf + chunk
        # a \r at the very end may be the first half of \r\n: hold it back until more comes
        keep_cr = buf.endswith(b"\r")
        if keep_cr:
            buf = buf[:-1]
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        out: list[SSEEvent] = []
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            line = buf[start:nl]
            start = nl + 1
            self._line(line, out)
        self._buf = buf[start:] + (b"\r" if keep_cr else b"")
        return out

    def _line(self, line: bytes, out: list[SSEEvent]) -> None:
        if not line:
            if self._data or self._event:
                out.append(SSEEvent(self._event, "\n".join(self._data)))
            self._event = ""
            self._data = []
            return
        if line.startswith(b":"):
            return  # comment / keep-alive
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        text = value.decode("utf-8", "replace")
        if name == b"data":
            self._data.append(text)
        elif name == b"event":
            self._event = text

    def flush(self) -> list[SSEEvent]:
        """Events left when the stream ends without a final blank line."""
        out: list[SSEEvent] = []
        if self._buf:
            self._line(self._buf, out)
            self._buf = b""
        self._line(b"", out)
        return out


def encode_event(event: str, data: bytes) -> bytes:
    """One SSE event in Anthropic's framing: `event: X\\ndata: {...}\\n\\n`."""
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
