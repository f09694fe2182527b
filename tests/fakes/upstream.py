"""A scriptable fake upstream (Anthropic or OpenAI dialect) for proxy tests.

A real HTTP/1.1 server on ``127.0.0.1`` (ephemeral port) running a private
asyncio loop in a daemon thread.  HTTP is implemented by hand (no framework),
so every byte and every pause on the wire is under the test's control:
keep-alive, chunked streaming, pauses between events, abrupt closes (FIN or
RST), or raw bytes with no HTTP framing at all.

Usage::

    with FakeUpstream("openai") as up:
        up.script(status(429), reply_text("hello"))   # next two requests
        ...  # point the proxy at f"{up.base_url}/v1"
        assert up.requests[0].json["model"] == "gpt-x"

Endpoints (the *generation* endpoint consumes the script, then ``default``):

* anthropic: ``POST /v1/messages`` (generation), ``POST /v1/messages/count_tokens``
  (``{"input_tokens": 100}``), ``GET /v1/models``.
* openai: ``POST /v1/chat/completions`` (generation), ``GET /v1/models``.
* anything else: 404 with an error body in the dialect's shape.

``script(*steps, path="/v1/models")`` queues steps for one exact URL path
instead (query ignored); those override the built-in answers above.

Steps honour the request's ``"stream"`` flag where that makes sense.  Every
step factory except ``slow_chunks`` (whose second argument is the pause
between deltas) takes a keyword ``delay``: seconds before the status line is
sent.  ``Step.with_delay(s)`` returns a copy of any step with that delay.

Bodies produced by ``respond(fn)`` and by steps internally are either
``bytes`` or an iterable of items:

* ``bytes``: sent at once (as one chunk when chunked); empty bytes are skipped;
* a number: sleep that many seconds (ends early if the client goes away);
* ``CLOSE`` / ``RESET``: close the TCP connection now (FIN / RST), without
  finishing the response.

An iterable body is sent with ``Transfer-Encoding: chunked`` unless the
headers carry a ``content-length`` (then items are written verbatim).  A
status of ``None`` is *raw mode*: nothing is generated, bytes items go on the
socket verbatim and the connection is closed afterwards.  Iterables are read
one item ahead (so the outcome can be recorded before the last write).

What happened on the wire is recorded per request in :class:`Recorded`
(``sent`` holds the monotonic time and payload of every body write,
``outcome`` how the exchange ended: "complete", "closed" (the fake closed the
connection on purpose), "client_gone" or "error"; it is set just before the
final write, so it is already there once the client has seen the end).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import itertools
import json
import re
import socket
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, ClassVar, Literal, NamedTuple
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "CLOSE",
    "RESET",
    "Close",
    "FakeUpstream",
    "Recorded",
    "Response",
    "Step",
    "cut_stream",
    "dynamic",
    "echo",
    "garbage",
    "hang",
    "reply_text",
    "reply_thinking",
    "reply_tool_call",
    "respond",
    "slow_chunks",
    "stall_stream",
    "status",
    "tool_use_loop_script",
]

Dialect = Literal["anthropic", "openai"]

DEFAULT_TEXT = "Hello from FakeUpstream."
DEFAULT_MODEL = "fake-model"
DEFAULT_USAGE: dict[str, int] = {"input_tokens": 10, "output_tokens": 5}
COUNT_TOKENS = 100

ANTHROPIC_MODELS = ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"]
OPENAI_MODELS = ["gpt-4o-mini", "deepseek-chat"]

GENERATION_PATH = {"anthropic": "/v1/messages", "openai": "/v1/chat/completions"}

_ids = itertools.count(1)


def _new_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):06d}"


# --------------------------------------------------------------------------
# Wire-level building blocks
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Close:
    """Body item: close the connection now, without finishing the response.

    ``reset=True`` sends a TCP RST (SO_LINGER 0) instead of a FIN."""

    reset: bool = False


CLOSE = Close()
RESET = Close(reset=True)

BodyItem = bytes | float | int | Close
Body = bytes | Iterable[BodyItem]


@dataclass
class Response:
    """What to put on the wire. ``status=None`` means raw mode (see module doc)."""

    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: Body = b""


@dataclass
class Recorded:
    """One request as received, plus what the fake did with it."""

    method: str
    path: str  # with query string
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes  # after undoing chunked transfer and gzip/deflate content-encoding
    json: Any  # decoded body, or None when empty / not JSON
    connection: int  # 1-based number of the TCP connection it arrived on
    received_at: float  # time.monotonic() once the body was read
    step: Step | None = None  # the step that answered (resolved); None = built-in
    status: int | None = None  # status sent (None: nothing / raw)
    response_started_at: float | None = None  # monotonic time the status line was sent
    sent: list[tuple[float, bytes]] = field(default_factory=list)  # (monotonic, payload)
    outcome: str | None = None  # None while in progress, then see _OUTCOMES
    finished_at: float | None = None
    http_version: str = "HTTP/1.1"

    @property
    def url_path(self) -> str:
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query, keep_blank_values=True)

    @property
    def stream(self) -> bool:
        return isinstance(self.json, dict) and self.json.get("stream") is True

    @property
    def sent_times(self) -> list[float]:
        return [t for t, _ in self.sent]


# complete: response fully sent; closed: the fake closed/reset the connection on purpose
# (CLOSE/RESET, hang, raw mode); client_gone: the client disconnected before the end;
# error: a step raised (see FakeUpstream.errors)
_OUTCOMES = ("complete", "closed", "client_gone", "error")


# --------------------------------------------------------------------------
# Dialect rendering
# --------------------------------------------------------------------------


def _split3(text: str) -> list[str]:
    """Split into (up to) three non-empty pieces, so clients must accumulate."""
    if len(text) <= 1:
        return [text] if text else []
    n = min(3, len(text))
    step = -(-len(text) // n)
    return [text[i : i + step] for i in range(0, len(text), step)]


def _split_words(text: str) -> list[str]:
    return re.findall(r"\s*\S+\s*", text) or ([text] if text else [])


@dataclass
class _Reply:
    """A dialect-neutral answer: Anthropic-shaped content blocks."""

    blocks: list[dict[str, Any]]
    stop_reason: str  # anthropic: end_turn | tool_use | max_tokens
    usage: dict[str, int] | None = None
    split: Callable[[str], list[str]] = _split3  # how text deltas are cut


class _Ev(NamedTuple):
    data: bytes
    text_delta: bool  # a delta of visible text (slow_chunks paces these)


def _sse(name: str | None, obj: Any) -> bytes:
    data = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"))
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {data}\n\n".encode()


def _anthropic_usage(u: dict[str, int] | None) -> dict[str, int]:
    u = dict(DEFAULT_USAGE if u is None else u)
    if "prompt_tokens" in u:  # given in OpenAI terms
        cached = (u.get("prompt_tokens_details") or {}).get("cached_tokens", 0)  # type: ignore[union-attr]
        return {
            "input_tokens": u["prompt_tokens"] - cached,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": cached,
            "output_tokens": u.get("completion_tokens", 0),
        }
    return {
        "input_tokens": u.get("input_tokens", 0),
        "cache_creation_input_tokens": u.get("cache_creation_input_tokens", 0),
        "cache_read_input_tokens": u.get("cache_read_input_tokens", 0),
        "output_tokens": u.get("output_tokens", 0),
    }


def _openai_usage(u: dict[str, int] | None) -> dict[str, Any]:
    u = dict(DEFAULT_USAGE if u is None else u)
    if "prompt_tokens" in u:  # already OpenAI-shaped
        u.setdefault("completion_tokens", 0)
        u.setdefault("total_tokens", u["prompt_tokens"] + u["completion_tokens"])
        return u
    cached = u.get("cache_read_input_tokens", 0)
    prompt = u.get("input_tokens", 0) + cached + u.get("cache_creation_input_tokens", 0)
    out = u.get("output_tokens", 0)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": out,
        "total_tokens": prompt + out,
    }
    if cached:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return usage


def _model(req: Recorded) -> str:
    if isinstance(req.json, dict) and isinstance(req.json.get("model"), str):
        return req.json["model"]
    return DEFAULT_MODEL


def _anthropic_message(req: Recorded, reply: _Reply) -> dict[str, Any]:
    return {
        "id": _new_id("msg_fake"),
        "type": "message",
        "role": "assistant",
        "model": _model(req),
        "content": reply.blocks,
        "stop_reason": reply.stop_reason,
        "stop_sequence": None,
        "usage": _anthropic_usage(reply.usage),
    }


def _anthropic_events(req: Recorded, reply: _Reply) -> list[_Ev]:
    msg = _anthropic_message(req, reply)
    usage = msg["usage"]
    start = dict(msg, content=[], stop_reason=None, usage=dict(usage, output_tokens=1))
    evs = [
        _Ev(_sse("message_start", {"type": "message_start", "message": start}), False),
        _Ev(_sse("ping", {"type": "ping"}), False),
    ]

    def delta(index: int, d: dict[str, Any], text: bool = False) -> _Ev:
        obj = {"type": "content_block_delta", "index": index, "delta": d}
        return _Ev(_sse("content_block_delta", obj), text)

    for i, block in enumerate(reply.blocks):
        kind = block["type"]
        if kind == "text":
            first: dict[str, Any] = {"type": "text", "text": ""}
        elif kind == "thinking":
            first = {"type": "thinking", "thinking": "", "signature": ""}
        elif kind == "tool_use":
            first = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        else:  # pragma: no cover
            raise ValueError(kind)
        start_ev = {"type": "content_block_start", "index": i, "content_block": first}
        evs.append(_Ev(_sse("content_block_start", start_ev), False))
        if kind == "text":
            for piece in reply.split(block["text"]):
                evs.append(delta(i, {"type": "text_delta", "text": piece}, True))
        elif kind == "thinking":
            for piece in _split3(block["thinking"]):
                evs.append(delta(i, {"type": "thinking_delta", "thinking": piece}))
            evs.append(delta(i, {"type": "signature_delta", "signature": block["signature"]}))
        else:
            for piece in _split3(json.dumps(block["input"])):
                evs.append(delta(i, {"type": "input_json_delta", "partial_json": piece}))
        stop = {"type": "content_block_stop", "index": i}
        evs.append(_Ev(_sse("content_block_stop", stop), False))
    end = {
        "type": "message_delta",
        "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
        "usage": {"output_tokens": usage["output_tokens"]},
    }
    evs.append(_Ev(_sse("message_delta", end), False))
    evs.append(_Ev(_sse("message_stop", {"type": "message_stop"}), False))
    return evs


_FINISH = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}


def _openai_completion(req: Recorded, reply: _Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None}
    texts = [b["text"] for b in reply.blocks if b["type"] == "text"]
    thoughts = [b["thinking"] for b in reply.blocks if b["type"] == "thinking"]
    calls = [b for b in reply.blocks if b["type"] == "tool_use"]
    if texts:
        message["content"] = "".join(texts)
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if calls:
        message["tool_calls"] = [
            {
                "id": b["id"],
                "type": "function",
                "function": {"name": b["name"], "arguments": json.dumps(b["input"])},
            }
            for b in calls
        ]
    return {
        "id": _new_id("chatcmpl-fake"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": _model(req),
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _FINISH.get(reply.stop_reason, reply.stop_reason),
            }
        ],
        "usage": _openai_usage(reply.usage),
    }


def _openai_events(req: Recorded, reply: _Reply) -> list[_Ev]:
    body = req.json if isinstance(req.json, dict) else {}
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    base = {
        "id": _new_id("chatcmpl-fake"),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": _model(req),
    }

    def chunk(delta: dict[str, Any], finish: str | None = None, text: bool = False) -> _Ev:
        obj: dict[str, Any] = dict(base)
        obj["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        if include_usage:
            obj["usage"] = None
        return _Ev(_sse(None, obj), text)

    evs = [chunk({"role": "assistant", "content": ""})]
    call_index = 0
    for block in reply.blocks:
        kind = block["type"]
        if kind == "thinking":
            for piece in _split3(block["thinking"]):
                evs.append(chunk({"reasoning_content": piece}))
        elif kind == "text":
            for piece in reply.split(block["text"]):
                evs.append(chunk({"content": piece}, text=True))
        elif kind == "tool_use":
            head = {
                "index": call_index,
                "id": block["id"],
                "type": "function",
                "function": {"name": block["name"], "arguments": ""},
            }
            evs.append(chunk({"tool_calls": [head]}))
            for piece in _split3(json.dumps(block["input"])):
                args = {"index": call_index, "function": {"arguments": piece}}
                evs.append(chunk({"tool_calls": [args]}))
            call_index += 1
    evs.append(chunk({}, _FINISH.get(reply.stop_reason, reply.stop_reason)))
    if include_usage:
        obj = dict(base, choices=[], usage=_openai_usage(reply.usage))
        evs.append(_Ev(_sse(None, obj), False))
    evs.append(_Ev(b"data: [DONE]\n\n", False))
    return evs


def _json_response(code: int, obj: Any, headers: dict[str, str] | None = None) -> Response:
    hdrs = {"content-type": "application/json"}
    hdrs.update(headers or {})
    return Response(code, hdrs, json.dumps(obj).encode())


def _sse_headers() -> dict[str, str]:
    return {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}


def _render_json(dialect: str, req: Recorded, reply: _Reply) -> bytes:
    if dialect == "anthropic":
        return json.dumps(_anthropic_message(req, reply)).encode()
    return json.dumps(_openai_completion(req, reply)).encode()


def _render_events(dialect: str, req: Recorded, reply: _Reply) -> list[_Ev]:
    if dialect == "anthropic":
        return _anthropic_events(req, reply)
    return _openai_events(req, reply)


def _render_reply(dialect: str, req: Recorded, reply: _Reply) -> Response:
    if req.stream:
        return Response(
            200, _sse_headers(), [ev.data for ev in _render_events(dialect, req, reply)]
        )
    return Response(200, {"content-type": "application/json"}, _render_json(dialect, req, reply))


_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_OPENAI_ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}


def error_body(dialect: str, code: int, message: str | None = None) -> dict[str, Any]:
    """A plausible error JSON for ``code`` in the dialect's shape."""
    message = message or f"fake upstream error {code}"
    if dialect == "anthropic":
        kind = _ANTHROPIC_ERROR_TYPES.get(
            code, "api_error" if code >= 500 else "invalid_request_error"
        )
        return {"type": "error", "error": {"type": kind, "message": message}}
    kind, err_code = _OPENAI_ERRORS.get(
        code, ("server_error" if code >= 500 else "invalid_request_error", None)
    )
    return {"error": {"message": message, "type": kind, "param": None, "code": err_code}}


# --------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------


@dataclass
class Step:
    """Base class: one scripted behaviour for one request."""

    delay: float = field(default=0.0, kw_only=True)  # seconds before the status line

    def resolve(self, req: Recorded) -> Step:
        return self

    def render(self, req: Recorded, dialect: str) -> Response:  # pragma: no cover
        raise NotImplementedError

    def with_delay(self, seconds: float) -> Step:
        return dataclasses.replace(self, delay=seconds)


@dataclass
class ReplyText(Step):
    text: str = DEFAULT_TEXT
    usage: dict[str, int] | None = None

    def render(self, req: Recorded, dialect: str) -> Response:
        reply = _Reply([{"type": "text", "text": self.text}], "end_turn", self.usage)
        return _render_reply(dialect, req, reply)


@dataclass
class ReplyToolCall(Step):
    name: str = "Bash"
    input: dict[str, Any] = field(default_factory=dict)
    tool_id: str | None = None
    text_before: str | None = None
    usage: dict[str, int] | None = None

    def render(self, req: Recorded, dialect: str) -> Response:
        tool_id = self.tool_id or _new_id("toolu_fake" if dialect == "anthropic" else "call_fake")
        blocks: list[dict[str, Any]] = []
        if self.text_before:
            blocks.append({"type": "text", "text": self.text_before})
        blocks.append({"type": "tool_use", "id": tool_id, "name": self.name, "input": self.input})
        return _render_reply(dialect, req, _Reply(blocks, "tool_use", self.usage))


@dataclass
class ReplyThinking(Step):
    thinking: str = "Let me think."
    text: str = DEFAULT_TEXT
    signature: str = "fake-signature-AbCd=="
    usage: dict[str, int] | None = None

    def render(self, req: Recorded, dialect: str) -> Response:
        blocks = [
            {"type": "thinking", "thinking": self.thinking, "signature": self.signature},
            {"type": "text", "text": self.text},
        ]
        return _render_reply(dialect, req, _Reply(blocks, "end_turn", self.usage))


@dataclass
class Status(Step):
    code: int = 500
    body: bytes | str | dict[str, Any] | None = None  # None: error_body(dialect, code)
    headers: dict[str, str] | None = None  # merged over the defaults

    content_type: ClassVar[str] = "application/json"
    retry_after: ClassVar[bool] = True  # a 429 says `retry-after: 1`

    def error_body(self, dialect: str) -> dict[str, Any]:
        return error_body(dialect, self.code)

    def render(self, req: Recorded, dialect: str) -> Response:
        hdrs = {"content-type": self.content_type}
        if self.code == 429 and self.retry_after:
            hdrs["retry-after"] = "1"
        body: Any = self.error_body(dialect) if self.body is None else self.body
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
            hdrs["content-type"] = "text/plain; charset=utf-8"
        hdrs.update({k.lower(): v for k, v in (self.headers or {}).items()})
        return Response(self.code, hdrs, body)


@dataclass
class Hang(Step):
    seconds: float = 10.0

    def render(self, req: Recorded, dialect: str) -> Response:
        return Response(None, {}, [self.seconds, CLOSE])


def _partial(req: Recorded, dialect: str, text: str, after_events: int) -> tuple[Response, list]:
    """Headers for a proper 200 answer, plus the body items: (sent part, rest)."""
    reply = _Reply([{"type": "text", "text": text}], "end_turn")
    if req.stream:
        data = [ev.data for ev in _render_events(dialect, req, reply)]
        k = max(0, min(after_events, len(data) - 1))  # never the terminating event
        return Response(200, _sse_headers(), data[:k]), data[k:]
    raw = _render_json(dialect, req, reply)
    half = len(raw) // 2
    hdrs = {"content-type": "application/json", "content-length": str(len(raw))}
    return Response(200, hdrs, [raw[:half]]), [raw[half:]]


@dataclass
class CutStream(Step):
    after_events: int = 2
    text: str = "This answer is cut off before it ends."
    reset: bool = False  # True: RST instead of FIN

    def render(self, req: Recorded, dialect: str) -> Response:
        resp, _rest = _partial(req, dialect, self.text, self.after_events)
        resp.body = [*resp.body, RESET if self.reset else CLOSE]  # type: ignore[misc]
        return resp


@dataclass
class StallStream(Step):
    after_events: int = 2
    seconds: float = 10.0
    text: str = "This answer stalls half way."
    then: Literal["close", "finish"] = "close"

    def render(self, req: Recorded, dialect: str) -> Response:
        resp, rest = _partial(req, dialect, self.text, self.after_events)
        tail = rest if self.then == "finish" else [CLOSE]
        resp.body = [*resp.body, self.seconds, *tail]  # type: ignore[misc]
        return resp


@dataclass
class Garbage(Step):
    body: bytes = b"<html>oops</html>"
    status: int = 200
    content_type: str = "text/html"

    def render(self, req: Recorded, dialect: str) -> Response:
        return Response(self.status, {"content-type": self.content_type}, self.body)


@dataclass
class SlowChunks(Step):
    text: str | Sequence[str] = DEFAULT_TEXT
    interval: float = 0.1  # seconds between text deltas
    usage: dict[str, int] | None = None

    def render(self, req: Recorded, dialect: str) -> Response:
        if isinstance(self.text, str):
            pieces, full = _split_words(self.text), self.text
        else:
            pieces, full = list(self.text), "".join(self.text)
        reply = _Reply([{"type": "text", "text": full}], "end_turn", self.usage, lambda _t: pieces)
        if not req.stream:  # the JSON body, written in pieces `interval` apart
            raw = _render_json(dialect, req, reply)
            parts = _split3(raw.decode())
            items: list[BodyItem] = []
            for n, part in enumerate(parts):
                items += [self.interval, part.encode()] if n else [part.encode()]
            hdrs = {"content-type": "application/json", "content-length": str(len(raw))}
            return Response(200, hdrs, items)
        items = []
        seen_delta = False
        for ev in _render_events(dialect, req, reply):
            if ev.text_delta:
                if seen_delta:
                    items.append(self.interval)
                seen_delta = True
            items.append(ev.data)
        return Response(200, _sse_headers(), items)


def summarize_request(req: Recorded) -> dict[str, Any]:
    """What ``echo()`` reports: a compact view of the received request."""
    body = req.json if isinstance(req.json, dict) else {}
    messages = body.get("messages") or []
    tools = body.get("tools") or []
    names = [
        t.get("name") or (t.get("function") or {}).get("name") for t in tools if isinstance(t, dict)
    ]
    return {
        "path": req.path,
        "model": body.get("model"),
        "stream": bool(body.get("stream")),
        "messages": len(messages),
        "roles": [m.get("role") for m in messages if isinstance(m, dict)],
        "tools": names,
        "max_tokens": body.get("max_tokens", body.get("max_completion_tokens")),
        "has_system": "system" in body
        or any(m.get("role") == "system" for m in messages if isinstance(m, dict)),
    }


@dataclass
class Echo(Step):
    def render(self, req: Recorded, dialect: str) -> Response:
        return ReplyText(json.dumps(summarize_request(req))).render(req, dialect)


ResponderResult = tuple[int | None, dict[str, str], Body]


@dataclass
class Respond(Step):
    fn: Callable[[Recorded], ResponderResult] | None = None

    def render(self, req: Recorded, dialect: str) -> Response:
        assert self.fn is not None
        code, headers, body = self.fn(req)
        return Response(code, {k.lower(): v for k, v in (headers or {}).items()}, body)


@dataclass
class Dynamic(Step):
    """Pick the step per request: fn(Recorded) -> Step (its delay adds to ours)."""

    fn: Callable[[Recorded], Step] | None = None

    def resolve(self, req: Recorded) -> Step:
        assert self.fn is not None
        inner = self.fn(req).resolve(req)
        return dataclasses.replace(inner, delay=inner.delay + self.delay)


# factory functions (the public, documented way to build steps) ------------


def reply_text(
    text: str = DEFAULT_TEXT, *, usage: dict[str, int] | None = None, delay: float = 0.0
) -> Step:
    """A normal text answer (SSE if the request streams). ``usage`` in Anthropic
    terms (input_tokens, output_tokens, cache_*), or OpenAI terms (prompt_tokens ...)."""
    return ReplyText(text, usage, delay=delay)


def reply_tool_call(
    name: str,
    input: dict[str, Any],
    *,
    tool_id: str | None = None,
    text_before: str | None = None,
    usage: dict[str, int] | None = None,
    delay: float = 0.0,
) -> Step:
    """The model calls a tool (stop_reason tool_use / finish_reason tool_calls)."""
    return ReplyToolCall(name, dict(input), tool_id, text_before, usage, delay=delay)


def reply_thinking(
    thinking: str,
    text: str,
    *,
    signature: str = "fake-signature-AbCd==",
    usage: dict[str, int] | None = None,
    delay: float = 0.0,
) -> Step:
    """Reasoning then text (Anthropic thinking block / OpenAI reasoning_content)."""
    return ReplyThinking(thinking, text, signature, usage, delay=delay)


def status(
    code: int,
    body: bytes | str | dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    *,
    delay: float = 0.0,
) -> Step:
    """An error/status answer; default body is the dialect's error JSON; 429 adds
    ``retry-after: 1`` unless ``headers`` overrides it."""
    return Status(code, body, headers, delay=delay)


def hang(seconds: float, *, delay: float = 0.0) -> Step:
    """Read the request, send nothing for ``seconds``, then close the connection."""
    return Hang(seconds, delay=delay)


def cut_stream(
    after_events: int = 2, *, text: str | None = None, reset: bool = False, delay: float = 0.0
) -> Step:
    """A proper 200 answer that stops after ``after_events`` SSE events (at most all
    but the last) and closes the connection with no chunked terminator.  For a
    non-streaming request: half of the declared Content-Length, then close."""
    return CutStream(after_events, text or CutStream.text, reset, delay=delay)


def stall_stream(
    after_events: int,
    seconds: float,
    *,
    text: str | None = None,
    then: Literal["close", "finish"] = "close",
    delay: float = 0.0,
) -> Step:
    """Send ``after_events`` events, go silent for ``seconds``, then close (default)
    or finish the response normally (``then="finish"``)."""
    return StallStream(after_events, seconds, text or StallStream.text, then, delay=delay)


def garbage(
    body: bytes = b"<html>oops</html>",
    status: int = 200,
    content_type: str = "text/html",
    *,
    delay: float = 0.0,
) -> Step:
    """A non-JSON body (with Content-Length)."""
    return Garbage(body, status, content_type, delay=delay)


def slow_chunks(
    text: str | Sequence[str], delay: float, *, usage: dict[str, int] | None = None
) -> Step:
    """Stream ``text`` with each text delta ``delay`` seconds after the previous one
    (a str is split into words; a list gives the deltas).  Send times end up in
    ``Recorded.sent``.  Use ``.with_delay(s)`` for a delay before the response."""
    return SlowChunks(text, delay, usage)


def echo(*, delay: float = 0.0) -> Step:
    """Answer with text = JSON of :func:`summarize_request` of the request."""
    return Echo(delay=delay)


def respond(fn: Callable[[Recorded], ResponderResult], *, delay: float = 0.0) -> Step:
    """Escape hatch: ``fn(Recorded) -> (status, headers, body)``; body is bytes or an
    iterable of bytes / sleep-seconds / CLOSE / RESET (see module doc)."""
    return Respond(fn=fn, delay=delay)


def dynamic(fn: Callable[[Recorded], Step], *, delay: float = 0.0) -> Step:
    """Choose a step per request: ``fn(Recorded) -> Step``."""
    return Dynamic(fn=fn, delay=delay)


# tool loop -----------------------------------------------------------------


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def last_tool_result(body: Any) -> str | None:
    """Text of the tool result that ends the conversation, in either dialect; None if
    the last user turn carries none.  With several results, the first one wins."""
    if not isinstance(body, dict):
        return None
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    # openai: the turn after the last assistant message; tool results are role "tool"
    tail: list[dict[str, Any]] = []
    for m in reversed(messages):
        if m.get("role") == "assistant":
            break
        tail.insert(0, m)
    for m in tail:
        if m.get("role") == "tool":
            return _content_text(m.get("content"))
    # anthropic: tool_result blocks in the last user message
    users = [m for m in tail if m.get("role") == "user"]
    if users and isinstance(users[-1].get("content"), list):
        for block in users[-1]["content"]:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                return _content_text(block.get("content"))
    return None


def _offers_tool(body: Any, name: str) -> bool:
    if not isinstance(body, dict):
        return False
    for t in body.get("tools") or []:
        if isinstance(t, dict) and (t.get("name") or (t.get("function") or {}).get("name")) == name:
            return True
    return False


def tool_use_loop_script(command: str, **options: Any) -> Step:
    """Behave like a model in a Claude Code tool loop: if the last user turn carries a
    tool result -> ``reply_text("done: " + its text)``; else
    ``reply_tool_call("Bash", {"command": command, "description": "run"})``.

    With ``require_offered=True``, requests that do not offer a ``Bash`` tool (title /
    background calls) get ``reply_text(other_text)`` instead of a tool call.
    Use as ``up.default = tool_use_loop_script("ls")`` (or inside ``up.script``)."""

    bash = reply_tool_call("Bash", {"command": command, "description": "run"})
    return tool_loop_step(last_tool_result, _offers_tool, reply_text, bash, **options)


def tool_loop_step(
    tool_output: Callable[[Any], str | None],
    offers: Callable[[Any, str], bool],
    text: Callable[[str], Step],
    call: Step,
    *,
    require_offered: bool = False,
    other_text: str = "ok",
) -> Step:
    """A model in a Claude Code tool loop, for any dialect's fake: when `tool_output` finds a
    tool's output in the request, `text("done: " + output)`; else the Bash `call` (or, with
    `require_offered`, `text(other_text)` when `offers` finds no Bash tool in the request)."""

    def choose(req: Recorded) -> Step:
        result = tool_output(req.json)
        if result is not None:
            return text("done: " + result)
        if require_offered and not offers(req.json, "Bash"):
            return text(other_text)
        return call

    return dynamic(choose)


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


class _ClientGone(Exception):
    pass


_END = object()


def _reason(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return {529: "Overloaded"}.get(code, "Unknown")


class FakeUpstream:
    """See the module docstring."""

    def __init__(self, dialect: Dialect) -> None:
        if dialect not in ("anthropic", "openai"):
            raise ValueError(f"dialect must be 'anthropic' or 'openai', not {dialect!r}")
        self.dialect: Dialect = dialect
        self.default: Step = reply_text(DEFAULT_TEXT)
        self.requests: list[Recorded] = []
        self.errors: list[BaseException] = []  # exceptions raised by steps (answered 500)
        self.connections = 0  # TCP connections accepted so far
        self.models = list(ANTHROPIC_MODELS if dialect == "anthropic" else OPENAI_MODELS)
        self.host = "127.0.0.1"
        self.port = 0
        self.base_url = ""
        self._queues: dict[str | None, deque[Step]] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    # -- public API ----------------------------------------------------------

    @property
    def generation_path(self) -> str:
        return GENERATION_PATH[self.dialect]

    def script(self, *steps: Step, path: str | None = None) -> None:
        """Append steps to the queue for the generation endpoint (or for ``path``)."""
        for s in steps:
            if not isinstance(s, Step):
                raise TypeError(f"not a Step: {s!r}")
        with self._lock:
            self._queues.setdefault(path, deque()).extend(steps)

    def pending(self, path: str | None = None) -> int:
        """Scripted steps not consumed yet."""
        with self._lock:
            return len(self._queues.get(path, ()))

    def clear_script(self) -> None:
        with self._lock:
            self._queues.clear()

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[Recorded]:
        """Block until at least ``n`` requests arrived (TimeoutError otherwise)."""
        end = time.monotonic() + timeout
        while len(self.requests) < n:
            if time.monotonic() > end:
                raise TimeoutError(f"{len(self.requests)} of {n} requests after {timeout}s")
            time.sleep(0.005)
        return list(self.requests)

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                raise TimeoutError(f"condition not met after {timeout}s")
            time.sleep(0.005)

    def start(self) -> FakeUpstream:
        if self._loop is not None:
            return self
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name=f"fake-upstream-{self.dialect}", daemon=True
        )
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start_server(), loop)
        self.port = fut.result(timeout=5)
        self.base_url = f"http://{self.host}:{self.port}"
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        if not thread.is_alive():
            loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"FakeUpstream({self.dialect!r}, base_url={self.base_url!r})"

    # -- server lifecycle ----------------------------------------------------

    async def _start_server(self) -> int:
        self._server = await asyncio.start_server(self._handle, self.host, 0, limit=1 << 20)
        return self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # -- connection handling -------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        conn = self.connections
        # drain() then waits until everything is handed to the kernel: exact timing
        writer.transport.set_write_buffer_limits(high=0)  # type: ignore[attr-defined]
        try:
            while True:
                req = await self._read_request(reader, writer, conn)
                if req is None:
                    break
                keep_alive = await self._serve(req, reader, writer)
                if not keep_alive:
                    break
        except (
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ):
            pass
        finally:
            if not writer.is_closing():
                writer.close()
            self._writers.discard(writer)
            self._tasks.discard(task)

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: int
    ) -> Recorded | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None  # clean EOF between requests
        lines = head.decode("latin-1").lstrip("\r\n").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass  # trailers
                    break
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            body = b"".join(parts)
        else:
            body = await reader.readexactly(int(headers.get("content-length") or 0))
        encoding = headers.get("content-encoding", "").lower()
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        return Recorded(
            method, target, headers, body, parsed, conn, time.monotonic(), http_version=version
        )

    def _pick_step(self, req: Recorded) -> Step | None:
        path = req.url_path
        with self._lock:
            queue = self._queues.get(path)
            if queue:
                return queue.popleft()
            if req.method == "POST" and path == self.generation_path:
                queue = self._queues.get(None)
                return queue.popleft() if queue else self.default
        return None

    def _builtin(self, req: Recorded) -> Response:
        path = req.url_path
        if (
            self.dialect == "anthropic"
            and req.method == "POST"
            and path == "/v1/messages/count_tokens"
        ):
            return _json_response(200, {"input_tokens": COUNT_TOKENS})
        if req.method == "GET" and path == "/v1/models":
            if self.dialect == "anthropic":
                data = [
                    {
                        "type": "model",
                        "id": m,
                        "display_name": m,
                        "created_at": "2025-01-01T00:00:00Z",
                    }
                    for m in self.models
                ]
                return _json_response(
                    200,
                    {
                        "data": data,
                        "has_more": False,
                        "first_id": self.models[0] if self.models else None,
                        "last_id": self.models[-1] if self.models else None,
                    },
                )
            data = [
                {"id": m, "object": "model", "created": 1735689600, "owned_by": "fake"}
                for m in self.models
            ]
            return _json_response(200, {"object": "list", "data": data})
        return _json_response(
            404, error_body(self.dialect, 404, f"{req.method} {req.path} not found")
        )

    async def _serve(
        self, req: Recorded, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; return whether the connection may be reused."""
        conn_hdr = req.headers.get("connection", "").lower()
        client_keep = "close" not in conn_hdr and (
            req.http_version != "HTTP/1.0" or "keep-alive" in conn_hdr
        )
        self.requests.append(req)
        delay = 0.0
        try:
            step = self._pick_step(req)
            if step is not None:
                step = step.resolve(req)
                delay = step.delay
            req.step = step
            resp = self._builtin(req) if step is None else step.render(req, self.dialect)
        except Exception as exc:
            self.errors.append(exc)
            msg = f"FakeUpstream step failed: {exc!r}".encode()
            resp = Response(500, {"content-type": "text/plain"}, msg)
            req.outcome = "error"
            delay = 0.0
        try:
            if delay > 0:
                await self._sleep(delay, reader)
            keep = await self._write(req, resp, writer, reader, head=req.method == "HEAD")
        except (_ClientGone, ConnectionError):
            self._finish(req, "client_gone")
            keep = False
        except Exception as exc:  # e.g. a respond() generator raised mid-body
            self.errors.append(exc)
            req.outcome = "error"
            self._finish(req, "error")
            writer.transport.abort()
            keep = False
        if req.outcome is None:  # e.g. HEAD
            self._finish(req, "complete" if keep else "closed")
        return keep and client_keep

    async def _sleep(self, seconds: float, reader: asyncio.StreamReader) -> None:
        """Sleep, but notice when the client disconnects meanwhile."""
        end = time.monotonic() + seconds
        while True:
            if reader.at_eof() or reader.exception() is not None:
                raise _ClientGone
            left = end - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.005))

    async def _send(
        self, req: Recorded, writer: asyncio.StreamWriter, data: bytes, payload: bytes
    ) -> None:
        req.sent.append((time.monotonic(), payload))
        writer.write(data)
        await writer.drain()

    async def _close(self, writer: asyncio.StreamWriter, reset: bool) -> None:
        if reset:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        else:
            writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    async def _write(
        self,
        req: Recorded,
        resp: Response,
        writer: asyncio.StreamWriter,
        reader: asyncio.StreamReader,
        head: bool = False,
    ) -> bool:
        body = resp.body
        if isinstance(body, str):
            body = body.encode()
        raw = resp.status is None
        headers = {k.lower(): v for k, v in resp.headers.items()}
        chunked = False
        if not raw:
            assert resp.status is not None
            req.status = resp.status
            if isinstance(body, bytes | bytearray):
                headers["content-length"] = str(len(body))
            elif "content-length" not in headers:
                headers["transfer-encoding"] = "chunked"
                chunked = True
            rid = "request-id" if self.dialect == "anthropic" else "x-request-id"
            headers.setdefault(rid, _new_id("req_fake"))
            headers.setdefault("server", "fake-upstream")
            lines = [f"HTTP/1.1 {resp.status} {_reason(resp.status)}"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            req.response_started_at = time.monotonic()
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            await writer.drain()
            if head:
                return True
        if isinstance(body, bytes | bytearray):
            body = [bytes(body)]
        declared = int(headers.get("content-length", -1)) if not chunked and not raw else -1
        written = 0
        items = iter(body)
        item: Any = next(items, _END)
        while item is not _END:
            following = next(items, _END)  # look ahead: mark the outcome before the last write
            if isinstance(item, Close):
                self._finish(req, "closed")
                await self._close(writer, item.reset)
                return False
            if isinstance(item, int | float):
                await self._sleep(float(item), reader)
            elif item:
                data = item.encode() if isinstance(item, str) else bytes(item)
                if following is _END and not chunked:
                    complete = not raw and written + len(data) == declared
                    self._finish(req, "complete" if complete else "closed")
                frame = b"%x\r\n%s\r\n" % (len(data), data) if chunked else data
                await self._send(req, writer, frame, data)
                written += len(data)
            item = following
        if chunked:
            self._finish(req, "complete")
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return True
        if raw or written != declared:
            self._finish(req, "closed")
            await self._close(writer, reset=False)
            return False
        self._finish(req, "complete")
        return True

    @staticmethod
    def _finish(req: Recorded, outcome: str) -> None:
        """Record the outcome *before* the final write, so it is visible to the test by
        the time the client has seen the end of the response."""
        if req.outcome != "error":  # a failed step stays "error"
            req.outcome = outcome
        req.finished_at = time.monotonic()
