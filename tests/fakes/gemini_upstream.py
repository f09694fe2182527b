"""A scriptable fake Google Gemini upstream (Gemini API and Vertex AI paths) for proxy tests.

It borrows the HTTP machinery of :class:`tests.fakes.upstream.FakeUpstream` (a hand-made
HTTP/1.1 server on ``127.0.0.1``, ephemeral port, private asyncio loop in a daemon thread;
requests recorded as :class:`Recorded`; a script queue; body items that pause, close or
reset), and answers in Gemini's shapes instead.

Usage::

    with FakeGemini() as up:
        up.script(status(429), reply_text("hello"))      # the next two generation requests
        ...  # provider base_url = up.gemini_base_url           (".../v1beta")
        ...  #   or for vertex-ai: up.vertex_base_url("proj", "us-central1")
        req = up.requests[0]
        assert model_of(req) == "gemini-2.5-pro" and is_stream(req)
        assert req.headers["x-goog-api-key"] == "sk-g" and req.json["contents"]

Generation endpoints (they consume the script, then ``default``), for any model:

* ``POST /v1beta/models/{model}:generateContent`` (and ``/v1/models/...``),
* ``POST /v1/projects/{p}/locations/{l}/publishers/google/models/{model}:generateContent``
  (and ``/v1beta1/...``),
* the same with ``:streamGenerateContent``: with ``?alt=sse`` an SSE stream of
  GenerateContentResponse chunks (``data: {...}\\r\\n\\r\\n``, as Google frames them);
  without it the real API's streamed JSON array.

Built-in answers: ``POST ...:countTokens`` -> ``{"totalTokens": 100}``, ``GET /v1beta/models``
-> a model list, anything else -> 404 in Google's error shape. ``script(*steps, path=...)``
overrides one exact path, as in the other fake.

With ``require_key="k"``, generation requests must authenticate like the real services:
Gemini API paths with ``x-goog-api-key: k`` or ``?key=k`` (missing: 403 PERMISSION_DENIED,
wrong: 400 INVALID_ARGUMENT "API key not valid", which is what Google really answers),
Vertex paths with ``Authorization: Bearer k`` (else 401 UNAUTHENTICATED).

Steps: :func:`reply_text`, :func:`reply_function_call`, :func:`reply_thinking`,
:func:`reply_parts`, :func:`reply_blocked`, :func:`status`, :func:`cut_stream`,
:func:`slow_chunks`, :func:`tool_use_loop_script`; and from the other fake, unchanged:
``hang``, ``garbage``, ``respond``, ``dynamic`` (and ``CLOSE`` / ``RESET`` body items).
Every step takes ``delay`` (seconds before the status line). ``usage`` dicts are in
Gemini's terms (``promptTokenCount``, ``candidatesTokenCount``, ``thoughtsTokenCount``,
``cachedContentTokenCount``); ``totalTokenCount`` is filled in.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tests.fakes import upstream
from tests.fakes.upstream import (
    CLOSE,
    RESET,
    BodyItem,
    FakeUpstream,
    Recorded,
    Response,
    Step,
    dynamic,
    garbage,
    hang,
    respond,
    tool_loop_step,
)

__all__ = [
    "CLOSE",
    "DEFAULT_TEXT",
    "GEMINI_MODELS",
    "RESET",
    "FakeGemini",
    "Recorded",
    "Step",
    "cut_stream",
    "dynamic",
    "error_body",
    "garbage",
    "hang",
    "is_stream",
    "last_function_response",
    "model_of",
    "reply_blocked",
    "reply_function_call",
    "reply_parts",
    "reply_text",
    "reply_thinking",
    "respond",
    "slow_chunks",
    "status",
    "tool_use_loop_script",
]

DEFAULT_TEXT = "Hello from FakeGemini."
DEFAULT_USAGE: dict[str, int] = {"promptTokenCount": 10, "candidatesTokenCount": 5}
COUNT_TOKENS = 100
GEMINI_MODELS = ["gemini-2.5-pro", "gemini-2.5-flash"]

_GEMINI_API = re.compile(r"^/v1(?:beta)?/models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$")
_VERTEX = re.compile(
    r"^/v1(?:beta1)?/projects/[^/]+/locations/[^/]+/publishers/google/models/"
    r"(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$"
)
_GENERATE = frozenset({"generateContent", "streamGenerateContent"})
_ids = itertools.count(1)


def _match(req: Recorded) -> re.Match[str] | None:
    path = req.url_path
    return _GEMINI_API.match(path) or _VERTEX.match(path)


def model_of(req: Recorded) -> str | None:
    """The model named in a generation/countTokens path (None for other paths)."""
    m = _match(req)
    return m["model"] if m else None


def is_stream(req: Recorded) -> bool:
    """Whether the request asked for ``:streamGenerateContent``."""
    m = _match(req)
    return bool(m) and m["method"] == "streamGenerateContent"


def _is_vertex(req: Recorded) -> bool:
    return _VERTEX.match(req.url_path) is not None


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_body(code: int, message: str | None = None) -> dict[str, Any]:
    """Google's error JSON for ``code`` (429 carries a RetryInfo detail)."""
    error: dict[str, Any] = {
        "code": code,
        "message": message or f"fake gemini error {code}",
        "status": _STATUS_NAMES.get(code, "INTERNAL" if code >= 500 else "FAILED_PRECONDITION"),
    }
    if code == 429:
        error["details"] = [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}
        ]
    return {"error": error}


def _json_response(code: int, obj: Any) -> Response:
    return Response(code, {"content-type": "application/json; charset=UTF-8"}, json.dumps(obj))


def _usage(usage: dict[str, int] | None) -> dict[str, int]:
    u = dict(DEFAULT_USAGE if usage is None else usage)
    u.setdefault("promptTokenCount", 0)
    u.setdefault(
        "totalTokenCount",
        u["promptTokenCount"] + u.get("candidatesTokenCount", 0) + u.get("thoughtsTokenCount", 0),
    )
    return u


def _split3(text: str) -> list[str]:
    if len(text) <= 1:
        return [text] if text else []
    step = -(-len(text) // min(3, len(text)))
    return [text[i : i + step] for i in range(0, len(text), step)]


@dataclass
class _Answer:
    """What the model says: Gemini parts, a finish reason, usage, or a prompt block."""

    parts: list[dict[str, Any]]
    finish_reason: str | None = "STOP"
    usage: dict[str, int] | None = None
    block_reason: str | None = None
    pieces: list[list[dict[str, Any]]] | None = None  # stream: parts per chunk (None: split)

    def body(self, req: Recorded) -> dict[str, Any]:
        """The non-stream GenerateContentResponse."""
        return self._chunk(req, self.parts, self.finish_reason, _usage(self.usage))

    def chunks(self, req: Recorded) -> list[dict[str, Any]]:
        """The stream: text split into pieces, function calls whole, finishReason last."""
        usage = _usage(self.usage)
        if self.block_reason is not None:
            return [self._chunk(req, [], None, usage)]
        groups = self.pieces if self.pieces is not None else self._split()
        partial = {"promptTokenCount": usage["promptTokenCount"]}
        partial["totalTokenCount"] = usage["promptTokenCount"]
        out = [self._chunk(req, parts, None, partial) for parts in groups[:-1]]
        last = groups[-1] if groups else [{"text": ""}]
        out.append(self._chunk(req, last, self.finish_reason, usage))
        return out

    def _split(self) -> list[list[dict[str, Any]]]:
        groups: list[list[dict[str, Any]]] = []
        for part in self.parts:
            if isinstance(part.get("text"), str) and part["text"]:
                extra = {k: v for k, v in part.items() if k not in ("text", "thoughtSignature")}
                pieces = _split3(part["text"])
                for n, piece in enumerate(pieces):
                    p = {**extra, "text": piece}
                    if n == len(pieces) - 1 and "thoughtSignature" in part:
                        p["thoughtSignature"] = part["thoughtSignature"]
                    groups.append([p])
            else:
                groups.append([part])
        return groups

    def _chunk(
        self,
        req: Recorded,
        parts: list[dict[str, Any]],
        finish: str | None,
        usage: dict[str, int],
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.block_reason is not None:
            body["promptFeedback"] = {"blockReason": self.block_reason}
        else:
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
            if finish is not None:
                candidate["finishReason"] = finish
            candidate["index"] = 0
            body["candidates"] = [candidate]
        body["usageMetadata"] = usage
        body["modelVersion"] = model_of(req) or "fake-gemini"
        body["responseId"] = f"fake-gemini-{next(_ids):06d}"
        return body


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\r\n\r\n"


def _stream_items(req: Recorded, chunks: list[dict[str, Any]]) -> list[bytes]:
    """Chunks framed as the request asked: SSE with ?alt=sse, else a streamed JSON array."""
    if req.query.get("alt") == ["sse"]:
        return [_sse(c) for c in chunks]
    items = [b"[" + json.dumps(chunks[0]).encode()]
    items += [b",\r\n" + json.dumps(c).encode() for c in chunks[1:]]
    items.append(b"]")
    return items


def _stream_headers(req: Recorded) -> dict[str, str]:
    if req.query.get("alt") == ["sse"]:
        return {"content-type": "text/event-stream", "cache-control": "no-cache"}
    return {"content-type": "application/json; charset=UTF-8"}


def _render(req: Recorded, answer: _Answer) -> Response:
    if is_stream(req):
        return Response(200, _stream_headers(req), _stream_items(req, answer.chunks(req)))
    return _json_response(200, answer.body(req))


# --------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------


@dataclass
class ReplyParts(Step):
    parts: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = "STOP"
    usage: dict[str, int] | None = None

    def render(self, req: Recorded, dialect: str) -> Response:
        return _render(req, _Answer(self.parts, self.finish_reason, self.usage))


@dataclass
class ReplyBlocked(Step):
    reason: str = "SAFETY"
    usage: dict[str, int] | None = None

    def render(self, req: Recorded, dialect: str) -> Response:
        return _render(req, _Answer([], None, self.usage, block_reason=self.reason))


@dataclass
class Status(upstream.Status):
    """Google's error JSON for the code, as `application/json; charset=UTF-8`; no
    retry-after."""

    content_type: ClassVar[str] = "application/json; charset=UTF-8"
    retry_after: ClassVar[bool] = False

    def error_body(self, dialect: str) -> dict[str, Any]:
        return error_body(self.code)


@dataclass
class CutStream(Step):
    after_chunks: int = 1
    text: str = "This answer is cut off before it ends."
    reset: bool = False

    def render(self, req: Recorded, dialect: str) -> Response:
        answer = _Answer([{"text": self.text}])
        end = RESET if self.reset else CLOSE
        if not is_stream(req):
            raw = json.dumps(answer.body(req)).encode()
            hdrs = {"content-type": "application/json", "content-length": str(len(raw))}
            return Response(200, hdrs, [raw[: len(raw) // 2], end])
        items = _stream_items(req, answer.chunks(req))
        k = max(0, min(self.after_chunks, len(items) - 1))  # never the chunk with finishReason
        return Response(200, _stream_headers(req), [*items[:k], end])


@dataclass
class SlowChunks(Step):
    pieces: list[str] = field(default_factory=list)
    interval: float = 0.1
    usage: dict[str, int] | None = None

    def render(self, req: Recorded, dialect: str) -> Response:
        groups = [[{"text": p}] for p in self.pieces]
        answer = _Answer([{"text": "".join(self.pieces)}], "STOP", self.usage, pieces=groups)
        if not is_stream(req):
            return _json_response(200, answer.body(req))
        items: list[BodyItem] = []
        for n, item in enumerate(_stream_items(req, answer.chunks(req))):
            items += [self.interval, item] if n else [item]
        return Response(200, _stream_headers(req), items)


def reply_parts(
    parts: list[dict[str, Any]],
    *,
    finish_reason: str | None = "STOP",
    usage: dict[str, int] | None = None,
    delay: float = 0.0,
) -> Step:
    """Escape hatch: exactly these Gemini parts (streams split text parts in pieces)."""
    return ReplyParts([dict(p) for p in parts], finish_reason, usage, delay=delay)


def reply_text(
    text: str = DEFAULT_TEXT,
    *,
    finish_reason: str = "STOP",
    usage: dict[str, int] | None = None,
    delay: float = 0.0,
) -> Step:
    """A text answer (a stream sends it in three pieces, finishReason on the last)."""
    return reply_parts([{"text": text}], finish_reason=finish_reason, usage=usage, delay=delay)


def reply_function_call(
    name: str,
    args: dict[str, Any],
    *,
    text_before: str | None = None,
    thought_signature: str | None = None,
    usage: dict[str, int] | None = None,
    delay: float = 0.0,
) -> Step:
    """The model calls a function (finishReason STOP, as Gemini says for calls too)."""
    call: dict[str, Any] = {"functionCall": {"name": name, "args": dict(args)}}
    if thought_signature is not None:
        call["thoughtSignature"] = thought_signature
    parts = ([{"text": text_before}] if text_before else []) + [call]
    return reply_parts(parts, usage=usage, delay=delay)


def reply_thinking(
    thought: str,
    text: str,
    *,
    signature: str | None = None,
    usage: dict[str, int] | None = None,
    delay: float = 0.0,
) -> Step:
    """A thought summary (``thought: true`` part) then text."""
    part: dict[str, Any] = {"text": thought, "thought": True}
    if signature is not None:
        part["thoughtSignature"] = signature
    return reply_parts([part, {"text": text}], usage=usage, delay=delay)


def reply_blocked(
    reason: str = "SAFETY", *, usage: dict[str, int] | None = None, delay: float = 0.0
) -> Step:
    """The prompt is blocked: ``promptFeedback.blockReason`` and no candidates."""
    return ReplyBlocked(reason, usage, delay=delay)


def status(
    code: int,
    body: bytes | str | dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    *,
    delay: float = 0.0,
) -> Step:
    """An error answer; the default body is Google's error JSON for ``code``."""
    return Status(code, body, headers, delay=delay)


def cut_stream(
    after_chunks: int = 1, *, text: str | None = None, reset: bool = False, delay: float = 0.0
) -> Step:
    """A 200 stream that closes (FIN, or RST with ``reset``) after ``after_chunks`` chunks,
    before the one with the finishReason. Non-stream: half the declared body, then close."""
    return CutStream(after_chunks, text or CutStream.text, reset, delay=delay)


def slow_chunks(pieces: list[str], interval: float, *, usage: dict[str, int] | None = None) -> Step:
    """Stream one text piece per chunk, ``interval`` seconds apart (the last chunk carries
    the last piece and the finishReason)."""
    return SlowChunks(list(pieces), interval, usage)


# tool loop -----------------------------------------------------------------


def last_function_response(body: Any) -> str | None:
    """The first functionResponse of the last ``user`` content, as text (``content`` or
    ``error``; other shapes as JSON); None if that turn has none."""
    if not isinstance(body, dict):
        return None
    contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
    users = [c for c in contents if c.get("role", "user") == "user"]
    if not users:
        return None
    for part in users[-1].get("parts") or []:
        if isinstance(part, dict) and isinstance(part.get("functionResponse"), dict):
            response = part["functionResponse"].get("response")
            if isinstance(response, dict):
                for key in ("content", "error"):
                    if isinstance(response.get(key), str):
                        return response[key]
            return json.dumps(response)
    return None


def _declares(body: Any, name: str) -> bool:
    if not isinstance(body, dict):
        return False
    for tool in body.get("tools") or []:
        for decl in (tool or {}).get("functionDeclarations") or []:
            if isinstance(decl, dict) and decl.get("name") == name:
                return True
    return False


def tool_use_loop_script(command: str, **options: Any) -> Step:
    """Behave like a model in a Claude Code tool loop: if the last user turn carries a
    functionResponse -> ``reply_text("done: " + its content)``; else
    ``reply_function_call("Bash", {"command": command, "description": "run"})``.
    With ``require_offered=True``, requests that declare no ``Bash`` function get
    ``reply_text(other_text)``. Use as ``up.default = tool_use_loop_script("ls")``."""

    bash = reply_function_call("Bash", {"command": command, "description": "run"})
    return tool_loop_step(last_function_response, _declares, reply_text, bash, **options)


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


class FakeGemini(FakeUpstream):
    """See the module docstring. ``base_url`` is ``http://127.0.0.1:PORT`` once started."""

    def __init__(self, *, require_key: str | None = None) -> None:
        super().__init__("openai")  # the machinery; every answer below is Gemini's
        self.dialect = "gemini"  # type: ignore[assignment]
        self.default: Step = reply_text(DEFAULT_TEXT)
        self.models = list(GEMINI_MODELS)
        self.require_key = require_key

    @property
    def generation_path(self) -> str:  # informative only: any model matches
        return "/v1beta/models/{model}:generateContent"

    @property
    def gemini_base_url(self) -> str:
        """A `gemini` provider's base_url (the client appends /models/{m}:...)."""
        return f"{self.base_url}/v1beta"

    def vertex_base_url(self, project: str = "proj", location: str = "us-central1") -> str:
        """A `vertex-ai` provider's base_url."""
        return f"{self.base_url}/v1/projects/{project}/locations/{location}/publishers/google"

    def generation_requests(self) -> Iterator[Recorded]:
        """The recorded generateContent / streamGenerateContent requests."""
        for req in list(self.requests):
            m = _match(req)
            if m and m["method"] in _GENERATE:
                yield req

    def _auth_failure(self, req: Recorded) -> Step | None:
        key = self.require_key
        if key is None:
            return None
        if _is_vertex(req):
            if req.headers.get("authorization") == f"Bearer {key}":
                return None
            return status(401, error_body(401, "Request had invalid authentication credentials."))
        given = req.headers.get("x-goog-api-key") or (req.query.get("key") or [None])[0]
        if given == key:
            return None
        if not given:
            return status(
                403,
                error_body(
                    403,
                    "Method doesn't allow unregistered callers (callers without established "
                    "identity). Please use API Key or other form of API consumer identity "
                    "to call this API.",
                ),
            )
        body = error_body(400, "API key not valid. Please pass a valid API key.")
        body["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            }
        ]
        return status(400, body)

    def _pick_step(self, req: Recorded) -> Step | None:
        path = req.url_path
        with self._lock:
            queue = self._queues.get(path)
            if queue:
                return queue.popleft()
        m = _match(req)
        if req.method != "POST" or m is None or m["method"] not in _GENERATE:
            return None
        denied = self._auth_failure(req)
        if denied is not None:
            return denied
        with self._lock:
            queue = self._queues.get(None)
            return queue.popleft() if queue else self.default

    def _builtin(self, req: Recorded) -> Response:
        m = _match(req)
        if req.method == "POST" and m is not None and m["method"] == "countTokens":
            return _json_response(200, {"totalTokens": COUNT_TOKENS})
        if req.method == "GET" and req.url_path in ("/v1beta/models", "/v1/models"):
            models = [
                {
                    "name": f"models/{name}",
                    "displayName": name,
                    "supportedGenerationMethods": [
                        "generateContent",
                        "streamGenerateContent",
                        "countTokens",
                    ],
                }
                for name in self.models
            ]
            return _json_response(200, {"models": models})
        return _json_response(404, error_body(404, f"{req.method} {req.path} not found"))

    def __repr__(self) -> str:
        return f"FakeGemini(base_url={self.base_url!r})"
