"""Anthropic Messages <-> OpenAI Chat Completions: request, response and stream translation.

Public interface:
    request_to_openai(body, actual_model, *, stream, provider_type="openai") -> dict
    response_from_openai(raw, requested_model) -> dict
    StreamTranslator(requested_model, input_tokens_estimate=0): .feed(data) .finish() .started
    TranslationError

Decisions worth knowing (claude-code-mux got each of these wrong, see the behaviour
reference §6.3/§6.6):

Request
- `system` (string or blocks) and every `system`/`developer`-role message become
  `{"role": "system"}` messages where they stand; block texts are joined with "\\n\\n".
  "system" rather than "developer": OpenAI maps it for reasoning models and every
  compatible provider understands it.
- A user turn's `tool_result` blocks become `role: tool` messages placed directly after the
  assistant message that made the calls (before the turn's own text, and before any system
  message that sits between the two turns). Tool-result images go into the next user
  message, after a short label naming the call. `is_error` prefixes "Error: ".
  A tool call left without a result gets a synthetic error result, and a result whose call
  is not in the previous assistant message is sent as user text: OpenAI-style APIs reject
  both otherwise.
- A user turn made only of text is sent as one string (blocks joined with "\\n\\n"): some
  providers (DeepSeek, Groq) accept only string content. With images/documents it is a list
  of parts.
- Assistant `thinking`/`redacted_thinking` blocks are dropped (no `reasoning_content`
  round trip); an assistant turn left with no text and no tool calls is left out.
  Unknown block types contribute their text, if any, and never fail.
- `max_tokens` -> `max_completion_tokens` for provider_type "openai" and for o-series/gpt-5
  models on any provider but openrouter (which documents `max_tokens`); else `max_tokens`.
- thinking -> effort ("low" < 4096 budget tokens <= "medium" < 16384 <= "high"; adaptive:
  `output_config.effort`, "max" -> "high", default "medium"), sent as `reasoning_effort`
  only to provider_type "openai" with an o-series/gpt-5 model (other OpenAI models reject
  it), as `reasoning: {"effort"}` to openrouter, and not at all elsewhere.
- For OpenAI o-series/gpt-5 models `temperature`, `top_p` and `stop` are dropped (those
  models reject them).
- `output_config.format` (Claude Code's structured outputs, e.g. title generation) ->
  `response_format: {"type": "json_schema", ...}` for openai and openrouter only (other
  providers often reject json_schema; there it is dropped).
- `metadata.user_id` -> `user`, cut to 64 characters.

Response / stream
- reasoning (`reasoning_content`, else `reasoning`) -> a `thinking` block with an empty
  signature, first; content -> text; `refusal` -> text with stop_reason "refusal";
  tool_calls -> tool_use blocks (ids kept, or "toolu_..." generated).
- finish_reason: stop -> end_turn (stop_sequence when the provider says which stop string
  matched), length -> max_tokens, tool_calls/function_call -> tool_use, content_filter ->
  refusal. Whenever tool calls were returned the stop_reason is tool_use (some providers
  say "stop"), except for length/content_filter.
- usage: input_tokens = prompt_tokens - cached, cache_read_input_tokens = cached,
  output_tokens = completion_tokens (which includes reasoning tokens, as Anthropic's does).
- Streams: blocks are never interleaved in Anthropic SSE, but OpenAI tool-call deltas are
  keyed by `index` and may be. The first tool call streams live; a later one is held back
  until the live call's arguments form a complete JSON value (so ordinary sequential streams
  stay live, and interleaved ones lose nothing), then opened with everything it has so far.
  Text or reasoning that arrives while a tool call is still incomplete is held and sent as
  its own block at the end. Tool arguments are forwarded as the model wrote them: invalid
  JSON is not repaired in streams (the non-stream path turns it into `{}`).
- With no upstream usage, output_tokens is estimated as characters / 4.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import msgspec

from ccm.translate.sse import encode_event
from ccm.wire.openai_chat import (
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    Message,
    ToolCall,
    Usage,
    error_message,
)

__all__ = ["StreamTranslator", "TranslationError", "request_to_openai", "response_from_openai"]


class TranslationError(ValueError):
    """The upstream said something that cannot be turned into an Anthropic response."""


_encode = msgspec.json.encode
_completion_decoder = msgspec.json.Decoder(ChatCompletion)
_chunk_decoder = msgspec.json.Decoder(ChatCompletionChunk)
_json_decoder = msgspec.json.Decoder()

# o1, o3-mini, o4-mini, gpt-5, gpt-5.1-codex ... but not gpt-5-chat-latest (not a reasoner)
_REASONING_MODEL = re.compile(r"^(o[1-9]|gpt-5)(?!.*-chat)", re.IGNORECASE)
_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "max": "high"}
_SKIP_BLOCKS = frozenset({"thinking", "redacted_thinking", "tool_use", "server_tool_use"})
_SYSTEM_ROLES = frozenset({"system", "developer"})
_USER_LIMIT = 64
_NO_RESULT = "Error: no result was given for this tool call."


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def _is_reasoning_model(model: str) -> bool:
    return bool(_REASONING_MODEL.match(model.rsplit("/", 1)[-1]))


# --------------------------------------------------------------------------- request


def _plain_text(value: Any) -> str:
    """The text in a string, a block or a list of blocks; non-text blocks add nothing."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n\n".join(t for v in value if (t := _plain_text(v)))
    if isinstance(value, dict):
        text = value.get("text")
        if isinstance(text, str):
            return text
        if value.get("type") in _SKIP_BLOCKS:
            return ""
        content = value.get("content")
        if isinstance(content, str | list):
            return _plain_text(content)
    return ""


def _image_part(source: Any) -> dict[str, Any] | None:
    if not isinstance(source, dict):
        return None
    kind = source.get("type")
    if kind == "base64" and isinstance(source.get("data"), str):
        media = source.get("media_type") or "image/png"
        url = f"data:{media};base64,{source['data']}"
    elif kind == "url" and isinstance(source.get("url"), str):
        url = source["url"]
    else:
        return None  # e.g. a Files API file_id: nothing OpenAI could fetch
    return {"type": "image_url", "image_url": {"url": url}}


def _document_parts(block: dict[str, Any]) -> list[dict[str, Any]]:
    source = block.get("source")
    if not isinstance(source, dict):
        return []
    title = block.get("title") if isinstance(block.get("title"), str) else None
    kind = source.get("type")
    if kind == "base64" and isinstance(source.get("data"), str):
        media = source.get("media_type") or "application/pdf"
        name = title or ("document.pdf" if media == "application/pdf" else "document")
        data_url = f"data:{media};base64,{source['data']}"
        return [{"type": "file", "file": {"filename": name, "file_data": data_url}}]
    if kind == "text":
        text = source.get("data") if isinstance(source.get("data"), str) else ""
    elif kind == "content":
        text = _plain_text(source.get("content"))
    elif kind == "url" and isinstance(source.get("url"), str):
        text = f"[document: {source['url']}]"
    else:
        return []
    if title and text:
        text = f"{title}\n\n{text}"
    return [{"type": "text", "text": text}] if text else []


def _collapse(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if all(p["type"] == "text" for p in parts):
        return "\n\n".join(p["text"] for p in parts)
    return parts


class _Conversation:
    """Builds the OpenAI message list, keeping tool results next to their calls."""

    __slots__ = ("anchor", "expected", "out")

    def __init__(self) -> None:
        self.out: list[dict[str, Any]] = []
        self.expected: dict[str, bool] = {}  # call ids of the last assistant turn -> answered
        self.anchor = 0  # where the next tool message goes

    def system(self, content: Any) -> None:
        text = _plain_text(content)
        if text:
            self.out.append({"role": "system", "content": text})

    def close_calls(self) -> None:
        """Give every unanswered call of the last assistant turn a synthetic result."""
        for call_id, answered in self.expected.items():
            if not answered:
                self._insert_tool(call_id, _NO_RESULT)
        self.expected = {}

    def _insert_tool(self, call_id: str, content: str) -> None:
        self.out.insert(self.anchor, {"role": "tool", "tool_call_id": call_id, "content": content})
        self.anchor += 1

    def assistant(self, content: Any) -> None:
        self.close_calls()
        if isinstance(content, str):
            if content:
                self.out.append({"role": "assistant", "content": content})
            return
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for block in content if isinstance(content, list) else ():
            if isinstance(block, str):
                texts.append(block)
                continue
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "tool_use":
                call_id = block.get("id") if isinstance(block.get("id"), str) else None
                calls.append(
                    {
                        "id": call_id or _new_id("toolu_"),
                        "type": "function",
                        "function": {
                            "name": block.get("name") or "",
                            "arguments": _encode(block.get("input") or {}).decode(),
                        },
                    }
                )
            elif kind not in _SKIP_BLOCKS:
                text = _plain_text(block)
                if text:
                    texts.append(text)
        if not texts and not calls:
            return  # e.g. only thinking: an empty assistant message is rejected by some APIs
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "\n\n".join(texts) if texts else None,
        }
        if calls:
            message["tool_calls"] = calls
        self.out.append(message)
        if calls:
            self.expected = {c["id"]: False for c in calls}
            self.anchor = len(self.out)

    def user(self, content: Any) -> None:
        if isinstance(content, str):
            self.close_calls()
            self.out.append({"role": "user", "content": content})
            return
        parts: list[dict[str, Any]] = []
        tool_images: list[dict[str, Any]] = []
        for block in content if isinstance(content, list) else ():
            if isinstance(block, str):
                parts.append({"type": "text", "text": block})
                continue
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "tool_result":
                self._tool_result(block, parts, tool_images)
            elif kind == "text":
                if isinstance(block.get("text"), str) and block["text"]:
                    parts.append({"type": "text", "text": block["text"]})
            elif kind == "image":
                part = _image_part(block.get("source"))
                if part is not None:
                    parts.append(part)
            elif kind == "document":
                parts.extend(_document_parts(block))
            elif kind not in _SKIP_BLOCKS:
                text = _plain_text(block)
                if text:
                    parts.append({"type": "text", "text": text})
        self.close_calls()
        parts = tool_images + parts
        if parts:
            self.out.append({"role": "user", "content": _collapse(parts)})

    def _tool_result(
        self, block: dict[str, Any], parts: list[dict[str, Any]], images: list[dict[str, Any]]
    ) -> None:
        call_id = block.get("tool_use_id") if isinstance(block.get("tool_use_id"), str) else ""
        content = block.get("content")
        texts: list[str] = []
        own_images: list[dict[str, Any]] = []
        for item in content if isinstance(content, list) else (content,):
            if isinstance(item, str):
                texts.append(item)
            elif isinstance(item, dict):
                kind = item.get("type")
                if kind == "image":
                    part = _image_part(item.get("source"))
                    if part is not None:
                        own_images.append(part)
                elif kind == "document":
                    for part in _document_parts(item):
                        if part["type"] == "text":
                            texts.append(part["text"])
                        else:
                            own_images.append(part)
                else:
                    texts.append(_plain_text(item))
        text = "\n\n".join(t for t in texts if t)
        if block.get("is_error") is True:
            text = f"Error: {text}" if text else "Error"
        elif not text and own_images:
            text = "(the result is the attached image)"
        if self.expected.get(call_id) is False:
            self.expected[call_id] = True
            self._insert_tool(call_id, text)
        else:  # no matching call just before: OpenAI would reject a tool message here
            parts.append({"type": "text", "text": f"[tool result {call_id}]\n{text}"})
        if own_images:
            images.append({"type": "text", "text": f"[images from tool result {call_id}]"})
            images.extend(own_images)


def _tools(tools: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            continue
        schema = tool.get("input_schema")
        if schema is None:
            if tool.get("type") not in (None, "custom"):
                continue  # server tool (web_search_..., bash_..., text_editor_...): no OpenAI form
            schema = {"type": "object", "properties": {}}
        function: dict[str, Any] = {"name": tool["name"]}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        function["parameters"] = schema
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: dict[str, Any]) -> str | dict[str, Any] | None:
    kind = choice.get("type")
    if kind == "auto":
        return "auto"
    if kind == "any":
        return "required"
    if kind == "none":
        return "none"
    if kind == "tool" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    return None


def _effort(body: dict[str, Any]) -> str | None:
    thinking = body.get("thinking")
    if not isinstance(thinking, dict):
        return None
    kind = thinking.get("type")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int | float):
            return "medium"
        return "low" if budget < 4096 else "medium" if budget < 16384 else "high"
    if kind == "adaptive":
        config = body.get("output_config")
        effort = config.get("effort") if isinstance(config, dict) else None
        return _EFFORTS.get(effort, "medium") if isinstance(effort, str) else "medium"
    return None


def request_to_openai(
    body: dict[str, Any], actual_model: str, *, stream: bool, provider_type: str = "openai"
) -> dict[str, Any]:
    """An Anthropic Messages request (decoded JSON) as an OpenAI Chat Completions request.

    Anthropic-only fields (context_management, service_tier, container, mcp_servers, top_k,
    cache_control ...) are dropped; malformed parts are skipped, never fatal.
    """
    conv = _Conversation()
    conv.system(body.get("system"))
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        content = message.get("content")
        if not isinstance(role, str):
            continue
        if role in _SYSTEM_ROLES:
            conv.system(content)
        elif role == "assistant":
            conv.assistant(content)
        else:
            conv.user(content)

    is_openai = provider_type == "openai"
    reasoner = _is_reasoning_model(actual_model)
    strict_openai = is_openai and reasoner  # o-series / gpt-5 on the OpenAI API
    req: dict[str, Any] = {"model": actual_model, "messages": conv.out}

    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int):
        use_mct = is_openai or (reasoner and provider_type != "openrouter")
        req["max_completion_tokens" if use_mct else "max_tokens"] = max_tokens
    if not strict_openai:
        for key in ("temperature", "top_p"):
            if isinstance(body.get(key), int | float):
                req[key] = body[key]
        stops = body.get("stop_sequences")
        if isinstance(stops, list) and stops:
            req["stop"] = stops

    tools = _tools(body.get("tools"))
    if tools:
        req["tools"] = tools
        choice = body.get("tool_choice")
        if isinstance(choice, dict):
            mapped = _tool_choice(choice)
            if mapped is not None:
                req["tool_choice"] = mapped
            if choice.get("disable_parallel_tool_use") is True and mapped != "none":
                req["parallel_tool_calls"] = False

    effort = _effort(body)
    if effort is not None:
        if strict_openai:
            req["reasoning_effort"] = effort
        elif provider_type == "openrouter":
            req["reasoning"] = {"effort": effort}

    config = body.get("output_config")
    if provider_type in ("openai", "openrouter") and isinstance(config, dict):
        fmt = config.get("format")
        schema = fmt.get("schema") if isinstance(fmt, dict) else None
        if isinstance(schema, dict) and fmt.get("type") == "json_schema":
            req["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": schema},
            }

    metadata = body.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if isinstance(user_id, str) and user_id:
        req["user"] = user_id[:_USER_LIMIT]

    if stream:
        req["stream"] = True
        req["stream_options"] = {"include_usage": True}
    return req


# --------------------------------------------------------------------------- response


_FINISH = {
    "length": "max_tokens",
    "max_tokens": "max_tokens",
    "content_filter": "refusal",
    "refusal": "refusal",
}


def _stop(
    finish: str | None, has_tools: bool, matched: str | None, refused: bool
) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence) for an OpenAI finish_reason."""
    if finish in _FINISH:
        return _FINISH[finish], None
    if has_tools:
        return "tool_use", None
    if refused:
        return "refusal", None
    if matched is not None and finish in ("stop", "stop_sequence", None):
        return "stop_sequence", matched
    return "end_turn", None


def _matched(choice: Choice | ChunkChoice) -> str | None:
    for value in (choice.stop_reason, choice.matched_stop):
        if isinstance(value, str) and value:
            return value
    return None


def _content_text(content: str | list[Any] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(
        p["text"] if isinstance(p, dict) and isinstance(p.get("text"), str) else "" for p in content
    )


def _tool_input(arguments: str | dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        value = _json_decoder.decode(arguments)
    except msgspec.DecodeError:
        return {}  # the model wrote invalid JSON; Anthropic input must be an object
    return value if isinstance(value, dict) else {}


def _usage(usage: Usage | None) -> dict[str, int]:
    if usage is None:
        return {
            "input_tokens": 0,
            "output_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
    cached = usage.cached or 0
    return {
        "input_tokens": max(int(usage.prompt_tokens or 0) - cached, 0),
        "output_tokens": int(usage.completion_tokens or 0),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def response_from_openai(raw: bytes, requested_model: str) -> dict[str, Any]:
    """An OpenAI non-stream response body as an Anthropic `message` dict."""
    try:
        resp = _completion_decoder.decode(raw)
    except msgspec.DecodeError as e:
        raise TranslationError(f"upstream response is not an OpenAI chat completion: {e}") from None
    if resp.error is not None:
        raise TranslationError(f"upstream error: {error_message(resp.error)}")
    choices = resp.choices or []
    if not choices:
        raise TranslationError("upstream response has no choices")
    choice = next((c for c in choices if not c.index), choices[0])
    msg = choice.message or Message()

    content: list[dict[str, Any]] = []
    reasoning = msg.reasoning_content or msg.reasoning
    if reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = _content_text(msg.content)
    if text:
        content.append({"type": "text", "text": text})
    refused = bool(msg.refusal) and not text
    if refused:
        content.append({"type": "text", "text": msg.refusal})
    for call in msg.tool_calls or ():
        fn = call.function
        content.append(
            {
                "type": "tool_use",
                "id": call.id or _new_id("toolu_"),
                "name": (fn.name if fn else None) or "",
                "input": _tool_input(fn.arguments if fn else None),
            }
        )
    stop_reason, stop_sequence = _stop(
        choice.finish_reason or None, bool(msg.tool_calls), _matched(choice), refused
    )
    return {
        "id": _new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": requested_model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": _usage(resp.usage),
    }


# --------------------------------------------------------------------------- stream


class _TextDelta(msgspec.Struct, tag="text_delta"):
    text: str


class _ThinkingDelta(msgspec.Struct, tag="thinking_delta"):
    thinking: str


class _InputJsonDelta(msgspec.Struct, tag="input_json_delta"):
    partial_json: str


class _BlockDelta(msgspec.Struct, tag="content_block_delta"):
    index: int
    delta: _TextDelta | _ThinkingDelta | _InputJsonDelta


_DELTA_TYPES = {"text": _TextDelta, "thinking": _ThinkingDelta}
_PING = encode_event("ping", b'{"type":"ping"}')
_MESSAGE_STOP = encode_event("message_stop", b'{"type":"message_stop"}')


class _Tool:
    __slots__ = ("args", "block", "closed", "id", "name")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.args: list[str] = []
        self.block: int | None = None  # Anthropic index once opened
        self.closed = False

    def complete(self) -> bool:
        """Whether the arguments so far are a whole JSON value (nothing more can follow)."""
        text = "".join(self.args).strip()
        if not text:
            return False
        try:
            _json_decoder.decode(text)
        except msgspec.DecodeError:
            return False
        return True


class StreamTranslator:
    """OpenAI Chat Completions stream chunks in, Anthropic SSE events out.

    Call `feed` with each upstream `data:` payload (including "[DONE]") and `finish` when
    the upstream ends. Both return encoded SSE events; `started` tells whether
    message_start has gone out (after that, failures must be sent as SSE error events).
    """

    def __init__(self, requested_model: str, input_tokens_estimate: int = 0) -> None:
        self.requested_model = requested_model
        self.started = False
        self._estimate = input_tokens_estimate
        self._next_index = 0
        self._live: str | _Tool | None = None  # "text", "thinking", a tool, or nothing open
        self._live_index = -1
        self._by_index: dict[int, _Tool] = {}
        self._by_id: dict[str, _Tool] = {}
        self._tools: list[_Tool] = []  # every tool call, in order of first appearance
        self._pending: list[_Tool] = []  # seen but not opened yet
        self._deferred: list[tuple[str, str]] = []  # (kind, text) held while a tool is open
        self._finish_reason: str | None = None
        self._stop_sequence: str | None = None
        self._refused = False
        self._usage: Usage | None = None
        self._chars = 0
        self._done = False
        self._finished = False

    # -- input

    def feed(self, data: str) -> list[bytes]:
        if self._finished:
            return []
        data = data.strip()
        if not data:
            return []
        if data == "[DONE]":
            self._done = True
            return self.finish()
        try:
            chunk = _chunk_decoder.decode(data)
        except msgspec.DecodeError as e:
            raise TranslationError(
                f"upstream sent an invalid stream chunk ({e}): {data[:200]!r}"
            ) from None
        if chunk.error is not None:
            raise TranslationError(f"upstream error mid-stream: {error_message(chunk.error)}")
        usage = chunk.usage
        if usage is not None and (
            usage.prompt_tokens is not None or usage.completion_tokens is not None
        ):
            self._usage = usage
        out: list[bytes] = []
        if not self.started:
            self._start(out)
        for choice in chunk.choices or ():
            if choice.index:
                continue  # n > 1: only the first choice is ours
            delta = choice.delta
            if delta is not None:
                reasoning = delta.reasoning_content or delta.reasoning
                if reasoning:
                    self._put("thinking", reasoning, out)
                text = _content_text(delta.content)
                if text:
                    self._put("text", text, out)
                if delta.refusal:
                    self._refused = True
                    self._put("text", delta.refusal, out)
                for call in delta.tool_calls or ():
                    self._tool_delta(call, out)
            if choice.finish_reason:
                self._finish_reason = choice.finish_reason
                self._stop_sequence = _matched(choice) or self._stop_sequence
        return out

    def finish(self) -> list[bytes]:
        if self._finished:
            return []
        if not self._done and self._finish_reason is None:
            raise TranslationError(
                "upstream stream ended early: no finish_reason and no [DONE] were received"
            )
        out: list[bytes] = []
        if not self.started:
            self._start(out)
        while self._pending:
            tool = self._pending.pop(0)
            self._close(out)
            if tool.name is None:
                tool.name = ""
            self._open_tool(tool, out)
        self._close(out)
        for kind, text in self._merged_deferred():
            self._open(kind, out)
            self._delta(text, out)
            self._close(out)
        self._finished = True
        has_tools = bool(self._tools)
        stop_reason, stop_sequence = _stop(
            self._finish_reason, has_tools, self._stop_sequence, self._refused
        )
        usage: dict[str, int] = {}
        u = self._usage
        if u is not None and u.prompt_tokens is not None:
            cached = u.cached
            usage["input_tokens"] = max(int(u.prompt_tokens) - (cached or 0), 0)
            if cached is not None:
                usage["cache_read_input_tokens"] = cached
        if u is not None and u.completion_tokens is not None:
            usage["output_tokens"] = int(u.completion_tokens)
        else:
            usage["output_tokens"] = (self._chars + 3) // 4
        event = {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
            "usage": usage,
        }
        out.append(encode_event("message_delta", _encode(event)))
        out.append(_MESSAGE_STOP)
        return out

    # -- blocks

    def _start(self, out: list[bytes]) -> None:
        self.started = True
        u = self._usage
        cached = u.cached if u is not None else None
        if u is not None and u.prompt_tokens is not None:
            input_tokens = max(int(u.prompt_tokens) - (cached or 0), 0)
        else:
            input_tokens = self._estimate
        message = {
            "id": _new_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": self.requested_model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": cached or 0,
            },
        }
        out.append(
            encode_event("message_start", _encode({"type": "message_start", "message": message}))
        )
        out.append(_PING)

    def _open(self, kind: str, out: list[bytes]) -> None:
        index = self._next_index
        self._next_index += 1
        if kind == "thinking":
            block: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
        else:
            block = {"type": "text", "text": ""}
        event = {"type": "content_block_start", "index": index, "content_block": block}
        out.append(encode_event("content_block_start", _encode(event)))
        self._live = kind
        self._live_index = index

    def _open_tool(self, tool: _Tool, out: list[bytes]) -> None:
        index = self._next_index
        self._next_index += 1
        tool.block = index
        if tool.id is None:
            tool.id = _new_id("toolu_")
        block = {"type": "tool_use", "id": tool.id, "name": tool.name or "", "input": {}}
        event = {"type": "content_block_start", "index": index, "content_block": block}
        out.append(encode_event("content_block_start", _encode(event)))
        self._live = tool
        self._live_index = index
        if tool.args:
            self._json_delta("".join(tool.args), out)

    def _close(self, out: list[bytes]) -> None:
        live = self._live
        if live is None:
            return
        if isinstance(live, _Tool):
            live.closed = True
        event = {"type": "content_block_stop", "index": self._live_index}
        out.append(encode_event("content_block_stop", _encode(event)))
        self._live = None

    def _delta(self, text: str, out: list[bytes]) -> None:
        delta = _DELTA_TYPES[self._live](text)  # type: ignore[index]
        out.append(
            encode_event("content_block_delta", _encode(_BlockDelta(self._live_index, delta)))
        )

    def _json_delta(self, text: str, out: list[bytes]) -> None:
        event = _BlockDelta(self._live_index, _InputJsonDelta(text))
        out.append(encode_event("content_block_delta", _encode(event)))

    def _put(self, kind: str, text: str, out: list[bytes]) -> None:
        """Text or reasoning: into the live block of that kind, a new block, or held back."""
        self._chars += len(text)
        live = self._live
        if live != kind:
            busy = isinstance(live, _Tool) and (self._pending or not live.complete())
            if busy or self._deferred:
                self._deferred.append((kind, text))
                return
            self._close(out)
            self._open(kind, out)
        self._delta(text, out)

    def _merged_deferred(self) -> list[tuple[str, str]]:
        merged: list[tuple[str, str]] = []
        for kind, text in self._deferred:
            if merged and merged[-1][0] == kind:
                merged[-1] = (kind, merged[-1][1] + text)
            else:
                merged.append((kind, text))
        self._deferred = []
        return merged

    # -- tool calls

    def _tool_for(self, call: ToolCall) -> _Tool:
        call_id = call.id or None
        if call.index is not None:
            tool = self._by_index.get(call.index)
            if tool is not None and (call_id is None or tool.id is None or tool.id == call_id):
                return tool
        elif call_id is not None:
            tool = self._by_id.get(call_id)
            if tool is not None:
                return tool
        elif self._tools:
            return self._tools[-1]
        tool = _Tool()  # a new call (or a provider reusing an index with a new id)
        if call.index is not None:
            self._by_index[call.index] = tool
        self._tools.append(tool)
        self._pending.append(tool)
        return tool

    def _tool_delta(self, call: ToolCall, out: list[bytes]) -> None:
        tool = self._tool_for(call)
        if call.id and tool.id is None:
            tool.id = call.id
            self._by_id[call.id] = tool
        fn = call.function
        piece = ""
        if fn is not None:
            if fn.name and tool.name is None:
                tool.name = fn.name
            args = fn.arguments
            piece = _encode(args).decode() if isinstance(args, dict) else (args or "")
        if piece:
            if tool.closed:
                return  # arguments after the call's JSON was complete: nothing can hold them
            tool.args.append(piece)
            self._chars += len(piece)
        if tool is self._live:
            if piece:
                self._json_delta(piece, out)
                if self._pending and ("}" in piece or "]" in piece):
                    self._advance(out)
        elif tool.block is None:
            self._advance(out)

    def _advance(self, out: list[bytes]) -> None:
        """Open waiting tool calls while the live block allows it."""
        while self._pending:
            tool = self._pending[0]
            if tool.name is None:
                return
            live = self._live
            if isinstance(live, _Tool) and not live.complete():
                return
            self._close(out)
            self._pending.pop(0)
            self._open_tool(tool, out)
