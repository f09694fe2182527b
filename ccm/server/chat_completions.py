"""POST /v1/chat/completions for OpenAI-compatible clients.

The OpenAI Chat Completions request is translated into an Anthropic Messages request and goes
through exactly the path of /v1/messages (`messages.handle_messages`: client key, rules,
dispatch, failover, every upstream dialect); the Anthropic answer or SSE stream is translated
back into a `chat.completion` or `chat.completion.chunk` stream. This is the inbound direction
only: the upstream dialects (ccm.dialects / ccm.translate) are not involved here.

Mapping, both ways:
- `system` and `developer` messages -> Anthropic `system` text blocks (in order);
  `user` text and `image_url` parts (data: URLs or http(s) URLs) -> text and image blocks;
  `assistant` content and `tool_calls` -> text and `tool_use` blocks; `tool` messages ->
  `tool_result` blocks of one user turn. Consecutive turns of one role are merged.
- `tools` (type function) -> Anthropic tools; `tool_choice` auto/none/required/{function}
  -> auto/none/any/tool; `parallel_tool_calls: false` -> `disable_parallel_tool_use`.
- `max_completion_tokens` / `max_tokens` (default 8192, Anthropic requires one), `temperature`,
  `top_p`, `stop`, `user` (-> `metadata.user_id`), `reasoning_effort` (-> thinking with a budget;
  thinking comes back as `reasoning_content`, the convention of DeepSeek-style APIs).
- Answers: text -> `content`, `tool_use` -> `tool_calls` (arguments as a JSON string),
  stop_reason end_turn/stop_sequence/pause_turn -> `stop`, max_tokens -> `length`, tool_use
  -> `tool_calls`, refusal -> `content_filter`; usage -> prompt/completion/total tokens (cached
  reads in `prompt_tokens_details.cached_tokens`). `stream_options.include_usage` adds the
  final usage chunk. Errors are OpenAI-shaped: `{"error": {"message", "type", "param", "code"}}`,
  with the status ccm would have answered on /v1/messages; after a stream has started, an
  `error` chunk, then `[DONE]`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import msgspec

from ccm.runtime import State
from ccm.server.messages import TOO_DEEP, Answer, BadJSON, Watch, handle_messages, parse_json

_decode = msgspec.json.decode
_encode = msgspec.json.encode

DEFAULT_MAX_TOKENS = 8192
EFFORT_BUDGET = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


class BadRequest(Exception):
    """The OpenAI request cannot be translated; the message names the field."""


# ---- errors -----------------------------------------------------------------------------


def openai_error(status: int, message: str, kind: str | None = None) -> Answer:
    body = {
        "error": {
            "message": message,
            "type": kind
            or ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error"),
            "param": None,
            "code": None,
        }
    }
    return Answer(status, {}, _encode(body))


def _from_anthropic_error(answer: Answer) -> Answer:
    """An Anthropic-shaped error answer as an OpenAI-shaped one (status and headers kept)."""
    message, kind = f"upstream error (status {answer.status})", None
    try:
        err = _decode(answer.body).get("error")
        if isinstance(err, dict):
            message = str(err.get("message") or message)
            kind = err.get("type") if isinstance(err.get("type"), str) else None
    except (msgspec.DecodeError, AttributeError):
        pass
    out = openai_error(answer.status, message, kind)
    out.headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-type"}
    return out


# ---- request: OpenAI -> Anthropic ---------------------------------------------------------


def _text_of(content: Any, where: str) -> str:
    """System/developer/tool content: a string or text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for i, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text":
                raise BadRequest(f"{where}.content[{i}]: only text parts are allowed here")
            texts.append(str(part.get("text") or ""))
        return "\n".join(texts)
    raise BadRequest(f"{where}.content: a string or an array of parts is required")


def _image_block(part: dict[str, Any], where: str) -> dict[str, Any]:
    spec = part.get("image_url")
    url = spec.get("url") if isinstance(spec, dict) else spec
    if not isinstance(url, str) or not url:
        raise BadRequest(f"{where}.image_url.url: a URL is required")
    if url.startswith("data:"):
        head, sep, data = url.partition(",")
        if not sep or ";base64" not in head:
            raise BadRequest(f"{where}.image_url.url: a data: URL must be base64")
        media = head[5:].split(";")[0] or "image/png"
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise BadRequest(f"{where}.image_url.url: a data: or http(s) URL is required")


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise BadRequest(f"{where}.content: a string or an array of parts is required")
    blocks: list[dict[str, Any]] = []
    for i, part in enumerate(content):
        at = f"{where}.content[{i}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            blocks.append({"type": "text", "text": str(part.get("text") or "")})
        elif kind == "image_url":
            blocks.append(_image_block(part, at))
        else:
            raise BadRequest(f"{at}.type: {kind!r} is not supported (text, image_url)")
    return blocks


def _tool_input(arguments: Any, where: str) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    if arguments in (None, ""):
        return {}
    if not isinstance(arguments, str):
        raise BadRequest(f"{where}.function.arguments: a JSON string is required")
    try:
        value = _decode(arguments)
    except msgspec.DecodeError:
        raise BadRequest(f"{where}.function.arguments: not valid JSON") from None
    if not isinstance(value, dict):
        raise BadRequest(f"{where}.function.arguments: a JSON object is required")
    return value


def _assistant_blocks(m: dict[str, Any], where: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = _text_of(m.get("content"), where) if m.get("content") is not None else ""
    if text:
        blocks.append({"type": "text", "text": text})
    calls = m.get("tool_calls") or []
    if not isinstance(calls, list):
        raise BadRequest(f"{where}.tool_calls: an array is required")
    for j, call in enumerate(calls):
        at = f"{where}.tool_calls[{j}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise BadRequest(f"{at}.function.name: a string is required")
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise BadRequest(f"{at}.id: a string is required")
        blocks.append(
            {
                "type": "tool_use",
                "id": call_id,
                "name": fn["name"],
                "input": _tool_input(fn.get("arguments"), at),
            }
        )
    return blocks


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise BadRequest("tools: an array is required")
    out = []
    for i, t in enumerate(tools):
        fn = t.get("function") if isinstance(t, dict) and t.get("type") == "function" else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise BadRequest(
                f"tools[{i}]: a {{type: function, function: {{name, ...}}}} is required"
            )
        tool: dict[str, Any] = {
            "name": fn["name"],
            "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
        }
        if fn.get("description"):
            tool["description"] = fn["description"]
        out.append(tool)
    return out


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None:
        out: dict[str, Any] | None = None
    elif choice in ("auto", "none"):
        out = {"type": choice}
    elif choice == "required":
        out = {"type": "any"}
    elif isinstance(choice, dict) and isinstance((choice.get("function") or {}).get("name"), str):
        out = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise BadRequest("tool_choice: auto, none, required or {type: function, function: {name}}")
    if parallel is False:
        out = {**(out or {"type": "auto"}), "disable_parallel_tool_use": True}
    return out


def to_anthropic(req: Any) -> dict[str, Any]:
    """An OpenAI chat request as an Anthropic Messages request. Raises BadRequest."""
    if not isinstance(req, dict):
        raise BadRequest("request body must be a JSON object")
    model = req.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: a non-empty string is required")
    messages = req.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages: a non-empty array is required")
    if req.get("n") not in (None, 1):
        raise BadRequest("n: only 1 is supported")
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": list(blocks)})

    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        role = m.get("role") if isinstance(m, dict) else None
        if role in ("system", "developer"):
            text = _text_of(m.get("content"), where)
            if text:
                system.append({"type": "text", "text": text})
        elif role == "user":
            add("user", _user_blocks(m.get("content"), where))
        elif role == "assistant":
            blocks = _assistant_blocks(m, where)
            if blocks:
                add("assistant", blocks)
        elif role == "tool":
            call_id = m.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise BadRequest(f"{where}.tool_call_id: a string is required")
            add(
                "user",
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": call_id,
                        "content": _text_of(m.get("content"), where),
                    }
                ],
            )
        else:
            raise BadRequest(f"{where}.role: one of system, developer, user, assistant, tool")
    if not turns:
        raise BadRequest("messages: at least one user or assistant message is required")

    max_tokens = req.get("max_completion_tokens", req.get("max_tokens"))
    if max_tokens is None:
        max_tokens = DEFAULT_MAX_TOKENS
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise BadRequest("max_tokens: a positive integer is required")
    out: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": turns}
    if system:
        out["system"] = system
    stream = req.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise BadRequest("stream: true or false is required")
    out["stream"] = bool(stream)
    for key in ("temperature", "top_p"):
        value = req.get(key)
        if value is not None:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise BadRequest(f"{key}: a number is required")
            out[key] = value
    stop = req.get("stop")
    if isinstance(stop, str):
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        if stop:
            out["stop_sequences"] = stop
    elif stop is not None:
        raise BadRequest("stop: a string or an array of strings is required")
    if req.get("tools"):
        out["tools"] = _tools(req["tools"])
    choice = _tool_choice(req.get("tool_choice"), req.get("parallel_tool_calls"))
    if choice is not None and out.get("tools"):
        out["tool_choice"] = choice
    if isinstance(req.get("user"), str) and req["user"]:
        out["metadata"] = {"user_id": req["user"]}
    effort = req.get("reasoning_effort")
    if effort is not None:
        if effort not in EFFORT_BUDGET and effort != "none":
            raise BadRequest(f"reasoning_effort: one of none, {', '.join(EFFORT_BUDGET)}")
        if effort != "none":
            budget = EFFORT_BUDGET[effort]
            out["thinking"] = {"type": "enabled", "budget_tokens": budget}
            out["max_tokens"] = max(out["max_tokens"], budget + 1024)
    return out


# ---- answer: Anthropic -> OpenAI ----------------------------------------------------------


def _usage(usage: Any) -> dict[str, Any]:
    u = usage if isinstance(usage, dict) else {}

    def n(key: str) -> int:
        v = u.get(key)
        return v if isinstance(v, int) and not isinstance(v, bool) else 0

    cached = n("cache_read_input_tokens")
    prompt = n("input_tokens") + cached + n("cache_creation_input_tokens")
    completion = n("output_tokens")
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def _completion_id(message_id: Any) -> str:
    return (
        f"chatcmpl-{message_id}" if isinstance(message_id, str) and message_id else "chatcmpl-ccm"
    )


def to_completion(message: Any, model: str, created: int) -> dict[str, Any]:
    """An Anthropic message as a `chat.completion`."""
    msg = message if isinstance(message, dict) else {}
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in msg.get("content") or []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "thinking":
            reasoning.append(str(block.get("thinking") or ""))
        elif kind == "tool_use":
            calls.append(
                {
                    "id": str(block.get("id") or ""),
                    "type": "function",
                    "function": {
                        "name": str(block.get("name") or ""),
                        "arguments": _encode(block.get("input") or {}).decode(),
                    },
                }
            )
    out_msg: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if reasoning:
        out_msg["reasoning_content"] = "".join(reasoning)
    if calls:
        out_msg["tool_calls"] = calls
    return {
        "id": _completion_id(msg.get("id")),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": out_msg,
                "finish_reason": FINISH.get(msg.get("stop_reason") or "", "stop"),
                "logprobs": None,
            }
        ],
        "usage": _usage(msg.get("usage")),
    }


class SSEEvents:
    """Anthropic SSE bytes -> (event, data) pairs, across arbitrary chunk boundaries."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[tuple[str, Any]]:
        # normalised on the whole pending buffer: a "\r\n" may be split across chunks
        self._buf = (self._buf + chunk).replace(b"\r\n", b"\n")
        out: list[tuple[str, Any]] = []
        while True:
            end = self._buf.find(b"\n\n")
            if end < 0:
                return out
            frame, self._buf = self._buf[:end], self._buf[end + 2 :]
            event, data = "", []
            for line in frame.split(b"\n"):
                if line.startswith(b"event:"):
                    event = line[6:].strip().decode()
                elif line.startswith(b"data:"):
                    data.append(line[5:].strip())
            if not data:
                continue
            try:
                payload = _decode(b"\n".join(data))
            except msgspec.DecodeError:
                continue
            if not event and isinstance(payload, dict):
                event = str(payload.get("type") or "")
            out.append((event, payload))


class ChunkWriter:
    """Anthropic stream events -> `chat.completion.chunk` SSE lines."""

    def __init__(self, model: str, created: int, include_usage: bool) -> None:
        self.model = model
        self.created = created
        self.include_usage = include_usage
        self.id = "chatcmpl-ccm"
        self.tool_index: dict[int, int] = {}  # Anthropic block index -> OpenAI tool call index
        self.usage: dict[str, Any] = {}
        self.finish: str | None = None
        self.done = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        body = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        return b"data: " + _encode(body) + b"\n\n"

    def event(self, name: str, data: Any) -> list[bytes]:
        if self.done or not isinstance(data, dict):
            return []
        if name == "message_start":
            msg = data.get("message") or {}
            self.id = _completion_id(msg.get("id"))
            self.usage.update(msg.get("usage") or {})
            return [self._chunk({"role": "assistant", "content": ""})]
        if name == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") != "tool_use":
                return []
            i = len(self.tool_index)
            self.tool_index[int(data.get("index") or 0)] = i
            call = {
                "index": i,
                "id": str(block.get("id") or ""),
                "type": "function",
                "function": {"name": str(block.get("name") or ""), "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        if name == "content_block_delta":
            delta = data.get("delta") or {}
            kind = delta.get("type")
            if kind == "text_delta":
                return [self._chunk({"content": str(delta.get("text") or "")})]
            if kind == "thinking_delta":
                return [self._chunk({"reasoning_content": str(delta.get("thinking") or "")})]
            if kind == "input_json_delta":
                i = self.tool_index.get(int(data.get("index") or 0))
                if i is None:
                    return []
                part = str(delta.get("partial_json") or "")
                return [
                    self._chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]})
                ]
            return []
        if name == "message_delta":
            self.usage.update(data.get("usage") or {})
            reason = (data.get("delta") or {}).get("stop_reason")
            if reason:
                self.finish = FINISH.get(reason, "stop")
            return []
        if name == "message_stop":
            return self.end()
        if name == "error":
            err = data.get("error") or {}
            self.done = True
            body = {
                "error": {
                    "message": str(err.get("message") or "stream failed"),
                    "type": str(err.get("type") or "api_error"),
                    "param": None,
                    "code": None,
                }
            }
            return [b"data: " + _encode(body) + b"\n\n", b"data: [DONE]\n\n"]
        return []

    def end(self) -> list[bytes]:
        if self.done:
            return []
        self.done = True
        out = [self._chunk({}, self.finish or "stop")]
        if self.include_usage:
            body = {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": _usage(self.usage),
            }
            out.append(b"data: " + _encode(body) + b"\n\n")
        out.append(b"data: [DONE]\n\n")
        return out


async def _chunks(source: AsyncIterator[bytes], writer: ChunkWriter) -> AsyncIterator[bytes]:
    events = SSEEvents()
    try:
        async for raw in source:
            for name, data in events.feed(raw):
                for out in writer.event(name, data):
                    yield out
            if writer.done:
                return
        if not writer.done:  # the Anthropic stream ended without message_stop
            for out in writer.event(
                "error", {"error": {"type": "api_error", "message": "upstream stream ended early"}}
            ):
                yield out
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()


async def handle_chat_completions(
    state: State, headers: Mapping[str, str], header_bytes: int, raw: bytes, watch: Watch
) -> Answer:
    """POST /v1/chat/completions: translate, then the /v1/messages path, then translate back."""
    try:
        req = parse_json(raw)
    except BadJSON as e:
        return openai_error(400, str(e))
    try:
        body = to_anthropic(req)
    except BadRequest as e:
        return openai_error(400, str(e))
    except RecursionError:
        return openai_error(400, TOO_DEEP)
    model = body["model"]
    created = int(time.time())
    options = req.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    answer = await handle_messages(state, headers, header_bytes, _encode(body), watch)
    if answer.status >= 400 and answer.stream is None:
        return _from_anthropic_error(answer)
    out_headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-type"}
    if answer.stream is not None:
        writer = ChunkWriter(model, created, include_usage)
        return Answer(
            answer.status, out_headers, b"", _chunks(answer.stream, writer), "text/event-stream"
        )
    try:
        message = _decode(answer.body)
    except msgspec.DecodeError:
        return openai_error(502, "the upstream answer could not be read")
    return Answer(answer.status, out_headers, _encode(to_completion(message, model, created)))
