"""A scriptable fake OpenAI Responses API upstream (``POST /v1/responses``), for proxy tests.

It is :class:`tests.fakes.upstream.FakeUpstream` (the same hand-written HTTP/1.1 server on
``127.0.0.1``, ephemeral port, private asyncio loop in a daemon thread, the same request
recording, script queue, delays and raw-wire steps) with Responses-shaped answers::

    with FakeResponsesUpstream() as up:
        up.script(status(429), reply_function_call("Bash", {"command": "ls"}))
        ...  # point the proxy at f"{up.base_url}/v1" (or up.codex_base_url)
        assert up.requests[0].json["input"][0]["role"] == "user"

Generation endpoints (both consume the script, then ``default``): ``POST /v1/responses``
and ``POST /backend-api/codex/responses`` (the ChatGPT/Codex OAuth backend). Also
``GET /v1/models``; anything else is a 404 with an OpenAI error body.

Every reply step honours the request's ``"stream"`` flag: a JSON response object, or SSE
events as OpenAI sends them (``event: <type>`` + ``data: {"type": ..., "sequence_number":
...}``): response.created, response.in_progress, then per output item
output_item.added, content_part.added / reasoning_summary_part.added, three deltas
(output_text / reasoning_summary_text / function_call_arguments), the matching ``.done``
events, output_item.done, and finally response.completed (or response.incomplete).

``FakeResponsesUpstream(codex_rules=True)`` makes the Codex path answer 400
``{"detail": ...}`` like the real backend when ``stream`` is not true, ``store`` is not
false, ``instructions`` are missing or ``max_output_tokens`` is sent (the request is
recorded; no script step is consumed).

Steps (each takes ``delay=`` seconds before the status line):

* ``reply_text(text, usage=None)``
* ``reply_function_call(name, arguments, call_id=None, text_before=None, usage=None)``
* ``reply_reasoning(summary, text, usage=None)``: a reasoning item (summary_text) + text
* ``reply_incomplete(text, reason="max_output_tokens")``: status incomplete
* ``reply_refusal(refusal)``: a message with a refusal part
* ``fail(message, code="server_error")``: stream: created, then response.failed;
  non-stream: a 200 body with status "failed"
* ``error_event(message, code)``: stream: created, in_progress, a top-level ``error`` event,
  then the stream ends
* ``cut_stream(after_events=3, text=...)``: the first events of a text answer, then the
  connection closes with no terminal event
* ``tool_loop(command, require_offered=False, other_text="ok")``: if the input's latest
  turn carries a ``function_call_output`` -> text ``"done: " + its output``; else a
  ``function_call`` of ``Bash`` with ``{"command": command}``
* re-exported from the generic fake: ``status``, ``hang``, ``garbage``, ``respond``,
  ``dynamic`` (``status(code)`` bodies are OpenAI-shaped ``{"error": {...}}``).

``usage`` is given in Responses terms: ``{"input_tokens", "output_tokens",
"cached_tokens"?, "reasoning_tokens"?}``; default 10 in / 5 out.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fakes.upstream import (
    CLOSE,
    FakeUpstream,
    Recorded,
    Response,
    Step,
    dynamic,
    garbage,
    hang,
    respond,
    status,
    tool_loop_step,
)

__all__ = [
    "CODEX_PATH",
    "RESPONSES_PATH",
    "Answer",
    "FakeResponsesUpstream",
    "cut_stream",
    "dynamic",
    "error_event",
    "fail",
    "function_call_item",
    "garbage",
    "hang",
    "last_function_output",
    "reasoning_item",
    "refusal_item",
    "reply_function_call",
    "reply_incomplete",
    "reply_reasoning",
    "reply_refusal",
    "reply_text",
    "respond",
    "response_object",
    "status",
    "stream_events",
    "text_item",
    "tool_loop",
]

RESPONSES_PATH = "/v1/responses"
CODEX_PATH = "/backend-api/codex/responses"
GENERATION_PATHS = (RESPONSES_PATH, CODEX_PATH)
DEFAULT_TEXT = "Hello from FakeResponsesUpstream."
DEFAULT_MODEL = "fake-model"
MODELS = ["gpt-5-codex", "gpt-5-mini"]

_ids = itertools.count(1)


def _new_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):06d}"


def _split3(text: str) -> list[str]:
    """Split into (up to) three non-empty pieces, so clients must accumulate."""
    if len(text) <= 1:
        return [text] if text else []
    step = -(-len(text) // min(3, len(text)))
    return [text[i : i + step] for i in range(0, len(text), step)]


def _model(req: Recorded) -> str:
    if isinstance(req.json, dict) and isinstance(req.json.get("model"), str):
        return req.json["model"]
    return DEFAULT_MODEL


def _usage(u: dict[str, int] | None) -> dict[str, Any]:
    u = dict(u or {"input_tokens": 10, "output_tokens": 5})
    inp, out = u.get("input_tokens", 0), u.get("output_tokens", 0)
    return {
        "input_tokens": inp,
        "input_tokens_details": {"cached_tokens": u.get("cached_tokens", 0)},
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": u.get("reasoning_tokens", 0)},
        "total_tokens": inp + out,
    }


def _sse(obj: dict[str, Any]) -> bytes:
    return f"event: {obj['type']}\ndata: {json.dumps(obj, separators=(',', ':'))}\n\n".encode()


def _sse_headers() -> dict[str, str]:
    return {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}


# --------------------------------------------------------------------------
# rendering: output items -> response object / stream events
# --------------------------------------------------------------------------


@dataclass
class Answer:
    """What the fake answers: Responses output items (complete) and how it ends."""

    items: list[dict[str, Any]]
    status: str = "completed"  # completed | incomplete | failed
    incomplete_reason: str | None = None
    usage: dict[str, int] | None = None
    error: dict[str, Any] | None = None


def text_item(text: str) -> dict[str, Any]:
    return {
        "id": _new_id("msg_fake"),
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def refusal_item(refusal: str) -> dict[str, Any]:
    item = text_item("")
    item["content"] = [{"type": "refusal", "refusal": refusal}]
    return item


def reasoning_item(summary: str) -> dict[str, Any]:
    return {
        "id": _new_id("rs_fake"),
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": summary}],
    }


def function_call_item(name: str, arguments: dict[str, Any], call_id: str | None) -> dict[str, Any]:
    return {
        "id": _new_id("fc_fake"),
        "type": "function_call",
        "status": "completed",
        "call_id": call_id or _new_id("call_fake"),
        "name": name,
        "arguments": json.dumps(arguments),
    }


def response_object(req: Recorded, answer: Answer, resp_id: str, final: bool) -> dict[str, Any]:
    body = req.json if isinstance(req.json, dict) else {}
    obj: dict[str, Any] = {
        "id": resp_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": answer.status if final else "in_progress",
        "error": answer.error if final else None,
        "incomplete_details": (
            {"reason": answer.incomplete_reason}
            if final and answer.status == "incomplete"
            else None
        ),
        "instructions": body.get("instructions"),
        "model": _model(req),
        "output": answer.items if final else [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "store": body.get("store", True),
        "tools": body.get("tools", []),
        "usage": _usage(answer.usage) if final and answer.status != "failed" else None,
    }
    return obj


def stream_events(req: Recorded, answer: Answer) -> list[bytes]:
    seq = itertools.count()
    resp_id = _new_id("resp_fake")

    def ev(kind: str, **fields: Any) -> bytes:
        return _sse({"type": kind, "sequence_number": next(seq), **fields})

    out = [
        ev("response.created", response=response_object(req, answer, resp_id, False)),
        ev("response.in_progress", response=response_object(req, answer, resp_id, False)),
    ]
    for n, item in enumerate(answer.items):
        where = {"item_id": item["id"], "output_index": n}
        kind = item["type"]
        if kind == "message":
            out.append(
                ev("response.output_item.added", output_index=n, item=dict(item, content=[]))
            )
            for c, part in enumerate(item["content"]):
                empty = dict(part, text="") if part["type"] == "output_text" else part
                if part["type"] == "refusal":
                    empty = dict(part, refusal="")
                out.append(ev("response.content_part.added", **where, content_index=c, part=empty))
                if part["type"] == "output_text":
                    for piece in _split3(part["text"]):
                        out.append(
                            ev(
                                "response.output_text.delta",
                                **where,
                                content_index=c,
                                delta=piece,
                                logprobs=[],
                            )
                        )
                    out.append(
                        ev("response.output_text.done", **where, content_index=c, text=part["text"])
                    )
                else:
                    for piece in _split3(part["refusal"]):
                        out.append(
                            ev("response.refusal.delta", **where, content_index=c, delta=piece)
                        )
                    done = ev(
                        "response.refusal.done", **where, content_index=c, refusal=part["refusal"]
                    )
                    out.append(done)
                out.append(ev("response.content_part.done", **where, content_index=c, part=part))
        elif kind == "reasoning":
            out.append(
                ev("response.output_item.added", output_index=n, item=dict(item, summary=[]))
            )
            for s, part in enumerate(item["summary"]):
                out.append(
                    ev(
                        "response.reasoning_summary_part.added",
                        **where,
                        summary_index=s,
                        part={"type": "summary_text", "text": ""},
                    )
                )
                for piece in _split3(part["text"]):
                    out.append(
                        ev(
                            "response.reasoning_summary_text.delta",
                            **where,
                            summary_index=s,
                            delta=piece,
                        )
                    )
                out.append(
                    ev(
                        "response.reasoning_summary_text.done",
                        **where,
                        summary_index=s,
                        text=part["text"],
                    )
                )
                out.append(
                    ev("response.reasoning_summary_part.done", **where, summary_index=s, part=part)
                )
        elif kind == "function_call":
            added = dict(item, arguments="", status="in_progress")
            out.append(ev("response.output_item.added", output_index=n, item=added))
            for piece in _split3(item["arguments"]):
                out.append(ev("response.function_call_arguments.delta", **where, delta=piece))
            out.append(
                ev("response.function_call_arguments.done", **where, arguments=item["arguments"])
            )
        out.append(ev("response.output_item.done", output_index=n, item=item))
    final = response_object(req, answer, resp_id, True)
    terminal = {"completed": "response.completed", "incomplete": "response.incomplete"}
    out.append(ev(terminal.get(answer.status, "response.failed"), response=final))
    return out


def render(req: Recorded, answer: Answer) -> Response:
    if req.stream:
        return Response(200, _sse_headers(), stream_events(req, answer))
    obj = response_object(req, answer, _new_id("resp_fake"), True)
    return Response(200, {"content-type": "application/json"}, json.dumps(obj).encode())


# --------------------------------------------------------------------------
# steps
# --------------------------------------------------------------------------


@dataclass
class Reply(Step):
    """A complete answer built per request (so ids are fresh each time)."""

    build: Callable[[], Answer] | None = None

    def render(self, req: Recorded, dialect: str) -> Response:
        assert self.build is not None
        return render(req, self.build())


@dataclass
class ErrorEvent(Step):
    message: str = "fake stream error"
    code: str | None = "server_error"

    def render(self, req: Recorded, dialect: str) -> Response:
        if not req.stream:
            body = {"error": {"message": self.message, "type": "server_error", "code": self.code}}
            return Response(500, {"content-type": "application/json"}, json.dumps(body).encode())
        events = stream_events(req, Answer([]))[:2]
        obj = {"type": "error", "sequence_number": 2, "code": self.code, "message": self.message}
        obj["param"] = None
        return Response(200, _sse_headers(), [*events, _sse(obj)])


@dataclass
class CutStream(Step):
    after_events: int = 3
    text: str = "This answer is cut off before it ends."

    def render(self, req: Recorded, dialect: str) -> Response:
        answer = Answer([text_item(self.text)])
        if not req.stream:
            raw = json.dumps(response_object(req, answer, _new_id("resp_fake"), True)).encode()
            hdrs = {"content-type": "application/json", "content-length": str(len(raw))}
            return Response(200, hdrs, [raw[: len(raw) // 2], CLOSE])
        events = stream_events(req, answer)
        k = max(0, min(self.after_events, len(events) - 1))  # never the terminal event
        return Response(200, _sse_headers(), [*events[:k], CLOSE])


def reply_text(
    text: str = DEFAULT_TEXT, *, usage: dict[str, int] | None = None, delay: float = 0.0
) -> Step:
    """A message with one output_text part."""
    return Reply(build=lambda: Answer([text_item(text)], usage=usage), delay=delay)


def reply_function_call(
    name: str,
    arguments: dict[str, Any],
    *,
    call_id: str | None = None,
    text_before: str | None = None,
    usage: dict[str, int] | None = None,
    delay: float = 0.0,
) -> Step:
    """The model calls a function (optionally after a message)."""
    args = dict(arguments)

    def build() -> Answer:
        items = [text_item(text_before)] if text_before else []
        items.append(function_call_item(name, args, call_id))
        return Answer(items, usage=usage)

    return Reply(build=build, delay=delay)


def reply_reasoning(
    summary: str, text: str, *, usage: dict[str, int] | None = None, delay: float = 0.0
) -> Step:
    """A reasoning item (one summary_text part), then a message."""
    return Reply(
        build=lambda: Answer([reasoning_item(summary), text_item(text)], usage=usage),
        delay=delay,
    )


def reply_incomplete(
    text: str = "This answer ran out of", *, reason: str = "max_output_tokens", delay: float = 0.0
) -> Step:
    """Status "incomplete" with incomplete_details.reason (response.incomplete in streams)."""
    return Reply(
        build=lambda: Answer([text_item(text)], "incomplete", incomplete_reason=reason),
        delay=delay,
    )


def reply_refusal(refusal: str = "I can't help with that.", *, delay: float = 0.0) -> Step:
    """A message whose only part is a refusal."""
    return Reply(build=lambda: Answer([refusal_item(refusal)]), delay=delay)


def fail(message: str = "fake failure", code: str = "server_error", *, delay: float = 0.0) -> Step:
    """Status "failed" with an error (stream: created, in_progress, response.failed)."""
    error = {"code": code, "message": message}
    return Reply(build=lambda: Answer([], "failed", error=error), delay=delay)


def error_event(
    message: str = "fake stream error", code: str | None = "server_error", *, delay: float = 0.0
) -> Step:
    """Stream: created, in_progress, then a top-level `error` event and the end.
    Non-stream: a 500 with an OpenAI error body."""
    return ErrorEvent(message, code, delay=delay)


def cut_stream(after_events: int = 3, *, text: str | None = None, delay: float = 0.0) -> Step:
    """The first ``after_events`` events of a text answer (never the terminal one), then
    the connection closes. Non-stream: half the declared body, then close."""
    return CutStream(after_events, text or CutStream.text, delay=delay)


# --------------------------------------------------------------------------
# tool loop
# --------------------------------------------------------------------------


def last_function_output(body: Any) -> str | None:
    """The output of the first function_call_output in the input's latest turn (the items
    after the last function_call or assistant message); None when there is none."""
    if not isinstance(body, dict) or not isinstance(body.get("input"), list):
        return None
    tail: list[dict[str, Any]] = []
    for item in reversed(body["input"]):
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call" or item.get("role") == "assistant":
            break
        tail.insert(0, item)
    for item in tail:
        if item.get("type") == "function_call_output":
            output = item.get("output")
            if isinstance(output, list):
                return "".join(p.get("text", "") for p in output if isinstance(p, dict))
            return output if isinstance(output, str) else ""
    return None


def _offers(body: Any, name: str) -> bool:
    tools = body.get("tools") if isinstance(body, dict) else None
    return any(isinstance(t, dict) and t.get("name") == name for t in tools or ())


def tool_loop(command: str, **options: Any) -> Step:
    """Behave like a model in a Claude Code tool loop (see the module doc). With
    ``require_offered=True`` a request without a ``Bash`` function gets
    ``reply_text(other_text)``. Use as ``up.default = tool_loop("ls")``."""

    bash = reply_function_call("Bash", {"command": command})
    return tool_loop_step(last_function_output, _offers, reply_text, bash, **options)


# --------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------


def codex_violation(body: Any) -> str | None:
    """What the ChatGPT Codex backend would refuse in this body (its 400 detail)."""
    if not isinstance(body, dict):
        return "Invalid request body"
    if body.get("stream") is not True:
        return "Stream must be set to true"
    if body.get("store") is not False:
        return "Store must be set to false"
    if not body.get("instructions"):
        return "Instructions are required"
    if "max_output_tokens" in body:
        return "Unsupported parameter: max_output_tokens"
    return None


@dataclass
class _CodexRefusal(Step):
    detail: str = ""

    def render(self, req: Recorded, dialect: str) -> Response:
        body = json.dumps({"detail": self.detail}).encode()
        return Response(400, {"content-type": "application/json"}, body)


class FakeResponsesUpstream(FakeUpstream):
    """See the module docstring."""

    def __init__(self, *, codex_rules: bool = False) -> None:
        super().__init__("openai")  # the server machinery; answers are ours
        self.dialect = "responses"  # type: ignore[assignment]
        self.default: Step = reply_text(DEFAULT_TEXT)
        self.models: list[str] = list(MODELS)
        self.codex_rules = codex_rules
        self.refusals: list[str] = []  # codex_rules 400 details, in order

    @property
    def generation_path(self) -> str:
        return RESPONSES_PATH

    @property
    def codex_base_url(self) -> str:
        """The base URL under which ``/codex/responses`` is the Codex endpoint."""
        return f"{self.base_url}/backend-api"

    def _pick_step(self, req: Recorded) -> Step | None:
        path = req.url_path
        if self.codex_rules and req.method == "POST" and path == CODEX_PATH:
            detail = codex_violation(req.json)
            if detail is not None:
                self.refusals.append(detail)
                return _CodexRefusal(detail=detail)
        with self._lock:
            queue = self._queues.get(path)
            if queue:
                return queue.popleft()
            if req.method == "POST" and path in GENERATION_PATHS:
                queue = self._queues.get(None)
                return queue.popleft() if queue else self.default
        return None

    def __repr__(self) -> str:
        return f"FakeResponsesUpstream(base_url={self.base_url!r})"
