"""Anthropic Messages <-> OpenAI Responses API (`POST /v1/responses`): request, response and
stream translation. Used for OpenAI Responses providers and the ChatGPT/Codex OAuth backend
(`https://chatgpt.com/backend-api/codex/responses`).

Public interface (mirrors ccm.translate.openai_chat):
    request_to_responses(body, actual_model, *, stream, provider_type="openai") -> dict
    response_from_responses(raw, requested_model) -> dict
    StreamTranslator(requested_model, input_tokens_estimate=0): .feed(data, event) .finish() .started
    TranslationError

Decisions worth knowing (claude-code-mux's version of this path sent no tools, forced the
Codex CLI prompt as instructions, demoted the system prompt to a user message and reported
usage 0/0; see the behaviour reference §6.4):

Request
- `system` (string or blocks, joined with "\\n\\n") -> `instructions`. `system`/`developer`-
  role messages inside `messages` -> `{"type": "message", "role": "developer"}` input items
  where they stand.
- Every message item carries a list of parts: user text `input_text`, images `input_image`
  (data URL or URL, detail "auto"), PDFs `input_file` (data URL or `file_url`), text
  documents `input_text`; assistant text `output_text`.
- tool_use -> `function_call` items `{call_id, name, arguments: JSON string}`; tool_result
  -> `function_call_output` `{call_id, output: string}` ("Error: " prefix when is_error),
  placed directly after the assistant turn that made the calls (before the turn's own text
  and before a system message between the two turns). Tool-result images go into the next
  user message after a label naming the call. A call left without a result gets a synthetic
  error output and a result with no matching call is sent as user text: the API rejects
  both otherwise.
- thinking / redacted_thinking blocks from earlier turns are dropped (no encrypted
  reasoning round trip); an assistant turn left empty is left out.
- tools -> `{"type": "function", name, description, parameters, strict: false}`; server
  tools (web_search_..., bash_...) are dropped. tool_choice: auto -> "auto", any ->
  "required", none -> "none", tool -> `{"type": "function", "name"}`;
  disable_parallel_tool_use -> `parallel_tool_calls: false`.
- max_tokens -> `max_output_tokens`, raised to the API's minimum of 16.
- thinking enabled/adaptive -> `reasoning: {effort, summary: "auto"}` (effort: "low" < 4096
  budget tokens <= "medium" < 16384 <= "high"; adaptive: `output_config.effort`, "max" ->
  "high", default "medium"). Not sent to the OpenAI API (provider_type "openai" or
  "openai-responses") for a model that takes no reasoning (gpt-4o, gpt-4.1 reject it);
  o-series, gpt-5*, codex* and gpt-oss* get it everywhere, other models on other types too.
- temperature / top_p are passed, except for reasoning models (o-series, gpt-5*, codex*)
  and the Codex backend. stop_sequences, top_k and Anthropic-only fields are dropped (the
  Responses API has no stop sequences).
- `output_config.format` (json_schema) -> `text: {"format": {"type": "json_schema", ...}}`.
- `store: false` always (the Codex backend requires it; nothing is kept upstream).
- The Codex backend (provider_type containing "codex" or "chatgpt") also gets: `stream:
  true` always (it refuses non-stream requests; response_from_responses accepts the SSE
  body), no `max_output_tokens` (it rejects the parameter), and non-empty `instructions`
  (it requires them). `prompt_cache_key` (Claude Code's session id from metadata.user_id)
  goes to the OpenAI API and the Codex backend, so turns of one session share the prompt
  cache.

Response / stream
- Output items in order: `reasoning` summary text (else its reasoning_text content) -> a
  `thinking` block with an empty signature; `message` output_text (and refusal) -> a text
  block; `function_call` -> tool_use (id = call_id, input = parsed arguments; invalid JSON
  -> {} in the non-stream path). Built-in tool items are ignored.
- stop_reason: status incomplete -> max_tokens (content_filter -> refusal); else any
  function_call -> tool_use; a refusal -> refusal; else end_turn.
- usage: input_tokens = input_tokens - input_tokens_details.cached_tokens,
  cache_read_input_tokens = cached, output_tokens (reasoning included, as Anthropic's).
- Streams: the first event after response.created/in_progress -> message_start + ping; one Anthropic block per output item,
  opened on its first content (tool_use blocks on output_item.added) and closed on
  output_item.done. Blocks are never interleaved: an item's events that arrive while an
  earlier item is still open are held and sent when it closes. Text the `done` events (or
  the final response) carry but no delta did is sent then, so servers that skip deltas
  lose nothing. response.completed / response.incomplete -> message_delta + message_stop;
  response.failed and `error` events raise TranslationError with the upstream message.
- With no upstream usage, output_tokens is estimated as characters / 4.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import msgspec

from ccm.translate.sse import SSEDecoder, encode_event
from ccm.wire.openai_responses import (
    OutputItem,
    Response,
    StreamEvent,
    Usage,
    error_message,
)

__all__ = [
    "StreamTranslator",
    "TranslationError",
    "request_to_responses",
    "response_from_responses",
]


class TranslationError(ValueError):
    """The upstream said something that cannot be turned into an Anthropic response."""


_encode = msgspec.json.encode
_response_decoder = msgspec.json.Decoder(Response)
_event_decoder = msgspec.json.Decoder(StreamEvent)
_json_decoder = msgspec.json.Decoder()

# o1, o3-mini, o4-mini, gpt-5, gpt-5.1-codex, codex-mini-latest ... not gpt-5-chat-latest
_REASONING_MODEL = re.compile(r"^(o[1-9]|gpt-5|codex)(?!.*-chat)", re.IGNORECASE)
# ... and open-weight reasoners that take `reasoning.effort` but also sampling parameters
_TAKES_REASONING = re.compile(r"^gpt-oss", re.IGNORECASE)
_OPENAI_API_TYPES = frozenset({"openai", "openai-responses"})
_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "max": "high"}
_SKIP_BLOCKS = frozenset({"thinking", "redacted_thinking", "tool_use", "server_tool_use"})
_SYSTEM_ROLES = frozenset({"system", "developer"})
_NO_RESULT = "Error: no result was given for this tool call."
_MIN_OUTPUT_TOKENS = 16
_CACHE_KEY_LIMIT = 64
_CODEX_INSTRUCTIONS = "You are a helpful assistant."


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def _is_reasoning_model(model: str) -> bool:
    return bool(_REASONING_MODEL.match(model.rsplit("/", 1)[-1]))


def _takes_reasoning(model: str) -> bool:
    return _is_reasoning_model(model) or bool(_TAKES_REASONING.match(model.rsplit("/", 1)[-1]))


def _is_codex_backend(provider_type: str) -> bool:
    kind = provider_type.lower()
    return "codex" in kind or "chatgpt" in kind


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


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "input_text", "text": text}


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
        return None  # e.g. an Anthropic Files API file_id: nothing OpenAI could fetch
    return {"type": "input_image", "image_url": url, "detail": "auto"}


def _document_parts(block: dict[str, Any]) -> list[dict[str, Any]]:
    source = block.get("source")
    if not isinstance(source, dict):
        return []
    title = block.get("title") if isinstance(block.get("title"), str) else None
    kind = source.get("type")
    media = source.get("media_type") or "application/pdf"
    if kind == "base64" and isinstance(source.get("data"), str):
        name = title or ("document.pdf" if media == "application/pdf" else "document")
        data_url = f"data:{media};base64,{source['data']}"
        return [{"type": "input_file", "filename": name, "file_data": data_url}]
    if kind == "url" and isinstance(source.get("url"), str):
        return [{"type": "input_file", "file_url": source["url"]}]
    if kind == "text":
        text = source.get("data") if isinstance(source.get("data"), str) else ""
    elif kind == "content":
        text = _plain_text(source.get("content"))
    else:
        return []
    if title and text:
        text = f"{title}\n\n{text}"
    return [_text_part(text)] if text else []


def _message(role: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "message", "role": role, "content": parts}


class _Input:
    """Builds the Responses `input` list, keeping tool outputs next to their calls."""

    __slots__ = ("anchor", "expected", "out")

    def __init__(self) -> None:
        self.out: list[dict[str, Any]] = []
        self.expected: dict[str, bool] = {}  # call ids of the last assistant turn -> answered
        self.anchor = 0  # where the next function_call_output goes

    def developer(self, content: Any) -> None:
        text = _plain_text(content)
        if text:
            self.out.append(_message("developer", [_text_part(text)]))

    def close_calls(self) -> None:
        """Give every unanswered call of the last assistant turn a synthetic output."""
        for call_id, answered in self.expected.items():
            if not answered:
                self._insert_output(call_id, _NO_RESULT)
        self.expected = {}

    def _insert_output(self, call_id: str, output: str) -> None:
        item = {"type": "function_call_output", "call_id": call_id, "output": output}
        self.out.insert(self.anchor, item)
        self.anchor += 1

    def assistant(self, content: Any) -> None:
        self.close_calls()
        if isinstance(content, str):
            if content:
                self.out.append(_message("assistant", [{"type": "output_text", "text": content}]))
            return
        texts: list[str] = []
        calls: list[str] = []

        def flush_text() -> None:
            if texts:
                part = {"type": "output_text", "text": "\n\n".join(texts)}
                self.out.append(_message("assistant", [part]))
                texts.clear()

        for block in content if isinstance(content, list) else ():
            if isinstance(block, str):
                if block:
                    texts.append(block)
                continue
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "tool_use":
                flush_text()
                call_id = block.get("id") if isinstance(block.get("id"), str) else None
                call_id = call_id or _new_id("call_")
                name = block.get("name") if isinstance(block.get("name"), str) else ""
                arguments = block.get("input")
                self.out.append(
                    {
                        "type": "function_call",
                        "call_id": call_id,
                        "name": name,
                        "arguments": _encode(arguments if arguments is not None else {}).decode(),
                    }
                )
                calls.append(call_id)
            elif kind not in _SKIP_BLOCKS:
                text = _plain_text(block)
                if text:
                    texts.append(text)
        flush_text()
        if calls:
            self.expected = dict.fromkeys(calls, False)
            self.anchor = len(self.out)

    def user(self, content: Any) -> None:
        if isinstance(content, str):
            self.close_calls()
            if content:
                self.out.append(_message("user", [_text_part(content)]))
            return
        parts: list[dict[str, Any]] = []
        tool_images: list[dict[str, Any]] = []
        for block in content if isinstance(content, list) else ():
            if isinstance(block, str):
                if block:
                    parts.append(_text_part(block))
                continue
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "tool_result":
                self._tool_result(block, parts, tool_images)
            elif kind == "text":
                if isinstance(block.get("text"), str) and block["text"]:
                    parts.append(_text_part(block["text"]))
            elif kind == "image":
                part = _image_part(block.get("source"))
                if part is not None:
                    parts.append(part)
            elif kind == "document":
                parts.extend(_document_parts(block))
            elif kind not in _SKIP_BLOCKS:
                text = _plain_text(block)
                if text:
                    parts.append(_text_part(text))
        self.close_calls()
        parts = tool_images + parts
        if parts:
            self.out.append(_message("user", parts))

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
                        if part["type"] == "input_text":
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
            self._insert_output(call_id, text)
        else:  # no matching call just before: the API would reject an orphan output
            parts.append(_text_part(f"[tool result {call_id}]\n{text}"))
        if own_images:
            images.append(_text_part(f"[images from tool result {call_id}]"))
            images.extend(own_images)


def _tools(tools: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            continue
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            if tool.get("type") not in (None, "custom"):
                continue  # server tool (web_search_..., bash_..., text_editor_...): no form here
            schema = {"type": "object", "properties": {}}
        function: dict[str, Any] = {"type": "function", "name": tool["name"]}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        function["parameters"] = schema
        function["strict"] = False
        out.append(function)
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
        return {"type": "function", "name": choice["name"]}
    return None


def _effort(body: dict[str, Any]) -> str | None:
    thinking = body.get("thinking")
    if not isinstance(thinking, dict):
        return None
    kind = thinking.get("type")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int | float) or isinstance(budget, bool):
            return "medium"
        return "low" if budget < 4096 else "medium" if budget < 16384 else "high"
    if kind == "adaptive":
        config = body.get("output_config")
        effort = config.get("effort") if isinstance(config, dict) else None
        return _EFFORTS.get(effort, "medium") if isinstance(effort, str) else "medium"
    return None


def _cache_key(body: dict[str, Any]) -> str | None:
    """Claude Code's session id (metadata.user_id is a JSON string), else the user id."""
    metadata = body.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if not isinstance(user_id, str) or not user_id:
        return None
    if user_id.startswith("{"):
        try:
            parsed = _json_decoder.decode(user_id)
        except msgspec.DecodeError:
            parsed = None
        session = parsed.get("session_id") if isinstance(parsed, dict) else None
        if isinstance(session, str) and session:
            return session[:_CACHE_KEY_LIMIT]
    return user_id[:_CACHE_KEY_LIMIT]


def request_to_responses(
    body: dict[str, Any], actual_model: str, *, stream: bool, provider_type: str = "openai"
) -> dict[str, Any]:
    """An Anthropic Messages request (decoded JSON) as an OpenAI Responses API request.

    Anthropic-only fields (context_management, service_tier, container, mcp_servers, top_k,
    cache_control ...) are dropped; malformed parts are skipped, never fatal.
    """
    items = _Input()
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        content = message.get("content")
        if not isinstance(role, str):
            continue
        if role in _SYSTEM_ROLES:
            items.developer(content)
        elif role == "assistant":
            items.assistant(content)
        else:
            items.user(content)
    items.close_calls()

    codex = _is_codex_backend(provider_type)
    reasoner = codex or _is_reasoning_model(actual_model)
    req: dict[str, Any] = {"model": actual_model}
    instructions = _plain_text(body.get("system"))
    if instructions:
        req["instructions"] = instructions
    elif codex:
        req["instructions"] = _CODEX_INSTRUCTIONS
    req["input"] = items.out

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

    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and not codex:
        req["max_output_tokens"] = max(max_tokens, _MIN_OUTPUT_TOKENS)
    if not reasoner:
        for key in ("temperature", "top_p"):
            value = body.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                req[key] = value

    effort = _effort(body)
    openai_api = provider_type in _OPENAI_API_TYPES
    if effort is not None and (reasoner or _takes_reasoning(actual_model) or not openai_api):
        req["reasoning"] = {"effort": effort, "summary": "auto"}

    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    schema = fmt.get("schema") if isinstance(fmt, dict) else None
    if isinstance(schema, dict) and isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        req["text"] = {
            "format": {"type": "json_schema", "name": "output", "schema": schema, "strict": False}
        }

    if codex or openai_api:
        key = _cache_key(body)
        if key:
            req["prompt_cache_key"] = key

    req["store"] = False
    if stream or codex:
        req["stream"] = True
    return req


# --------------------------------------------------------------------------- response


def _stop(status: str | None, reason: str | None, has_tools: bool, refused: bool) -> str:
    if status == "incomplete" or reason is not None:
        if reason == "content_filter":
            return "refusal"
        if status == "incomplete" or reason == "max_output_tokens":
            return "max_tokens"
    if has_tools:
        return "tool_use"
    if refused:
        return "refusal"
    return "end_turn"


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


def _arguments_text(arguments: str | dict[str, Any] | None) -> str:
    if isinstance(arguments, dict):
        return _encode(arguments).decode()
    return arguments or ""


def _message_text(item: OutputItem) -> tuple[str, bool]:
    """(text of a message item, whether it holds a refusal)."""
    content = item.content
    if isinstance(content, str):
        return content, False
    texts: list[str] = []
    refused = False
    for part in content or ():
        if part.type == "refusal" or (part.refusal and not part.text):
            if part.refusal:
                texts.append(part.refusal)
                refused = True
        elif part.text:
            texts.append(part.text)
    return "".join(texts), refused


def _reasoning_text(item: OutputItem, source: str | None = None) -> tuple[str, str]:
    """(thinking text, its source: "summary" or "content") of a reasoning item."""
    summary = "\n\n".join(p.text for p in item.summary or () if p.text)
    if source != "content" and (summary or source == "summary"):
        return summary, "summary"
    content = item.content
    if isinstance(content, str):
        return content, "content"
    return "\n\n".join(p.text for p in content or () if p.text), "content"


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
        "input_tokens": max(int(usage.input_tokens or 0) - cached, 0),
        "output_tokens": int(usage.output_tokens or 0),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def _failure(resp: Response | None) -> str:
    if resp is None:
        return "upstream response failed"
    return f"upstream error: {error_message(resp.error, 'response ' + (resp.status or 'failed'))}"


def _event_error(ev: StreamEvent) -> str:
    """The message of a top-level `error` stream event (fields on the event, or nested)."""
    if ev.message:
        return f"{ev.message} ({ev.code})" if ev.code is not None else ev.message
    return error_message(ev.error)


def _looks_like_sse(raw: bytes) -> bool:
    head = raw.lstrip()[:6]
    return head.startswith((b"event:", b"data:", b":"))


def response_from_responses(raw: bytes, requested_model: str) -> dict[str, Any]:
    """A Responses API non-stream body as an Anthropic `message` dict.

    An SSE body (the Codex backend always streams) is accepted too: it is run through the
    stream translator and the result accumulated.
    """
    if _looks_like_sse(raw):
        return _from_sse(raw, requested_model)
    try:
        resp = _response_decoder.decode(raw)
    except msgspec.DecodeError as e:
        raise TranslationError(f"upstream response is not a Responses API object: {e}") from None
    if resp.status == "failed" or (resp.error is not None and not resp.output):
        raise TranslationError(_failure(resp))
    if resp.output is None and resp.status is None:
        raise TranslationError("upstream response has no output and no status")

    content: list[dict[str, Any]] = []
    refused = False
    has_tools = False
    for item in resp.output or ():
        if item.type == "reasoning":
            thinking, _ = _reasoning_text(item)
            if thinking:
                content.append({"type": "thinking", "thinking": thinking, "signature": ""})
        elif item.type == "message":
            text, refusal = _message_text(item)
            refused = refused or refusal
            if text:
                content.append({"type": "text", "text": text})
        elif item.type == "function_call":
            has_tools = True
            content.append(
                {
                    "type": "tool_use",
                    "id": item.call_id or item.id or _new_id("toolu_"),
                    "name": item.name or "",
                    "input": _tool_input(item.arguments),
                }
            )
    reason = resp.incomplete_details.reason if resp.incomplete_details else None
    return {
        "id": _new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": requested_model,
        "content": content,
        "stop_reason": _stop(resp.status, reason, has_tools, refused),
        "stop_sequence": None,
        "usage": _usage(resp.usage),
    }


def _from_sse(raw: bytes, requested_model: str) -> dict[str, Any]:
    decoder = SSEDecoder()
    translator = StreamTranslator(requested_model)
    out: list[bytes] = []
    for ev in decoder.feed(raw) + decoder.flush():
        out.extend(translator.feed(ev.data, ev.event))
    out.extend(translator.finish())
    message: dict[str, Any] = {}
    blocks: list[dict[str, Any]] = []
    json_parts: list[str] = []
    for ev in decoder.feed(b"".join(out)) + decoder.flush():
        data = _json_decoder.decode(ev.data)
        kind = data["type"]
        if kind == "message_start":
            message = data["message"]
        elif kind == "content_block_start":
            blocks.append(data["content_block"])
            json_parts = []
        elif kind == "content_block_delta":
            delta, block = data["delta"], blocks[-1]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            else:
                json_parts.append(delta["partial_json"])
        elif kind == "content_block_stop":
            block = blocks[-1]
            if block["type"] == "tool_use":
                block["input"] = _tool_input("".join(json_parts))
        elif kind == "message_delta":
            message.update(data["delta"])
            message["usage"] = {**message["usage"], **data["usage"]}
    message["content"] = blocks
    return message


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


_DELTAS = {"text": _TextDelta, "thinking": _ThinkingDelta, "tool": _InputJsonDelta}
_PING = encode_event("ping", b'{"type":"ping"}')
_MESSAGE_STOP = encode_event("message_stop", b'{"type":"message_stop"}')
_ITEM_KINDS = {"message": "text", "reasoning": "thinking", "function_call": "tool"}
_TERMINAL = frozenset({"response.completed", "response.incomplete"})
_TEXT_DELTAS = frozenset({"response.output_text.delta", "response.refusal.delta"})
_THINKING_DELTAS = {
    "response.reasoning_summary_text.delta": "summary",
    "response.reasoning_text.delta": "content",
}


class _Item:
    """One output item of the upstream response: one Anthropic block (or none)."""

    __slots__ = (
        "block",
        "buf",
        "call_id",
        "done",
        "id",
        "kind",
        "name",
        "part",
        "seen",
        "seen_len",
        "source",
    )

    def __init__(self, kind: str) -> None:
        self.kind = kind  # "text" | "thinking" | "tool" | "other"
        self.id: str | None = None
        self.call_id: str | None = None
        self.name: str | None = None
        self.seen: list[str] = []  # everything received (sent or held), to reconcile with
        self.seen_len = 0  # the added/done payloads
        self.buf: list[str] = []  # received but not sent yet
        self.block: int | None = None  # Anthropic index once opened
        self.done = False
        self.source: str | None = None  # thinking: "summary" or "content", whichever came first
        self.part: int | None = None  # last summary/content part index (separators)


# events before any output: message_start waits for what follows them
_PRELUDE = frozenset({"response.created", "response.in_progress", "response.queued"})


class StreamTranslator:
    """OpenAI Responses stream events in, Anthropic SSE events out.

    Call `feed` with each upstream event's `data:` payload (and its `event:` name, used only
    when the payload has no `type`) and `finish` when the upstream ends. Both return encoded
    SSE events; `started` tells whether message_start has gone out (after that, failures
    must be sent as SSE error events).
    """

    def __init__(self, requested_model: str, input_tokens_estimate: int = 0) -> None:
        self.requested_model = requested_model
        self.started = False
        self._estimate = input_tokens_estimate
        self._next_index = 0
        self._items: list[_Item] = []  # every item, in order of appearance
        self._queue: list[_Item] = []  # items not finished yet; the first one may be open
        self._by_key: dict[int, _Item] = {}
        self._by_id: dict[str, _Item] = {}
        self._usage: Usage | None = None
        self._refused = False
        self._chars = 0
        self._finished = False

    # -- input

    def feed(self, data: str, event: str = "") -> list[bytes]:
        if self._finished:
            return []
        data = data.strip()
        if not data:
            return []
        if data == "[DONE]":  # not part of the Responses protocol, but a clear end
            return self._end(None, [])
        ev = self._decode(data)
        if ev is None:
            return []
        kind = ev.type or event
        if kind == "error":
            raise TranslationError(f"upstream error mid-stream: {_event_error(ev)}")
        resp = ev.response
        if kind == "response.failed" or (resp is not None and resp.status == "failed"):
            raise TranslationError(_failure(resp))
        if resp is not None and resp.usage is not None:
            self._usage = resp.usage
        out: list[bytes] = []
        if not self.started:
            if kind in _PRELUDE:
                return []  # nothing to say yet: a failure before output can still fail over
            self._start(out)
        if kind in _TERMINAL:
            return self._end(resp, out)
        if kind == "response.output_item.added":
            if ev.item is not None:
                self._reconcile(self._item_for(ev, ev.item), ev.item)
        elif kind == "response.output_item.done":
            if ev.item is not None:
                item = self._item_for(ev, ev.item)
                self._reconcile(item, ev.item)
                item.done = True
        elif kind in _TEXT_DELTAS and ev.delta:
            if kind == "response.refusal.delta":
                self._refused = True
            self._add(self._item_for(ev, None, "text"), ev.delta)
        elif kind in _THINKING_DELTAS and ev.delta:
            self._thinking(ev, _THINKING_DELTAS[kind])
        elif kind == "response.function_call_arguments.delta" and ev.delta:
            self._add(self._item_for(ev, None, "tool"), ev.delta)
        self._advance(out)
        return out

    def finish(self) -> list[bytes]:
        if self._finished:
            return []
        raise TranslationError(
            "upstream stream ended early: no response.completed, response.incomplete or "
            "response.failed event was received"
        )

    def _decode(self, data: str) -> StreamEvent | None:
        try:
            return _event_decoder.decode(data)
        except msgspec.DecodeError as e:
            try:  # valid JSON of an unexpected shape: fatal only if it is an event we need
                value = _json_decoder.decode(data)
            except msgspec.DecodeError:
                raise TranslationError(
                    f"upstream sent an invalid stream event ({e}): {data[:200]!r}"
                ) from None
            kind = value.get("type") if isinstance(value, dict) else None
            if isinstance(kind, str) and (
                kind == "error" or kind.startswith("response.output") or kind in _TERMINAL
            ):
                raise TranslationError(
                    f"upstream sent a malformed {kind} event ({e}): {data[:200]!r}"
                ) from None
            return None

    # -- items

    def _item_for(self, ev: StreamEvent, payload: OutputItem | None, kind: str = "other") -> _Item:
        """The item an event is about; a new one if it names none seen so far."""
        item_id = (payload.id if payload is not None else None) or ev.item_id
        key = ev.output_index
        item: _Item | None = None
        if key is not None:
            item = self._by_key.get(key)
            if item is not None and item_id and item.id and item.id != item_id:
                item = None  # the index was reused for another item
        if item is None and item_id:
            item = self._by_id.get(item_id)
        if item is None and key is None and not item_id and self._queue:
            last = self._queue[-1]
            if last.kind == kind:
                item = last
        if item is None:
            if payload is not None:
                kind = _ITEM_KINDS.get(payload.type or "", "other")
            item = _Item(kind)
            self._items.append(item)
            self._queue.append(item)
            if key is None:
                key = -len(self._items)  # no index given: a private one
            self._by_key.setdefault(key, item)
        if key is not None and key not in self._by_key:
            self._by_key[key] = item
        if item_id and item.id is None:
            item.id = item_id
            self._by_id[item_id] = item
        return item

    def _add(self, item: _Item, text: str) -> None:
        if item.done or not text:
            return  # nothing may follow an item's `done`
        item.seen.append(text)
        item.seen_len += len(text)
        item.buf.append(text)
        self._chars += len(text)

    def _thinking(self, ev: StreamEvent, source: str) -> None:
        item = self._item_for(ev, None, "thinking")
        if item.kind != "thinking":
            return
        if item.source is None:
            item.source = source
        elif item.source != source:
            return  # summary and full reasoning of one item: keep the first kind only
        part = ev.summary_index if source == "summary" else ev.content_index
        if part is not None and item.part is not None and part != item.part and item.seen_len:
            self._add(item, "\n\n")
        if part is not None:
            item.part = part
        self._add(item, ev.delta or "")

    def _reconcile(self, item: _Item, payload: OutputItem) -> None:
        """Take what an item's added/done payload says that no delta did."""
        if item.kind == "tool":
            if payload.name and item.name is None:
                item.name = payload.name
            if payload.call_id and item.call_id is None:
                item.call_id = payload.call_id
            full = _arguments_text(payload.arguments)
        elif item.kind == "text":
            full, refused = _message_text(payload)
            self._refused = self._refused or refused
        elif item.kind == "thinking":
            full, source = _reasoning_text(payload, item.source)
            if full and item.source is None:
                item.source = source
        else:
            return
        if len(full) > item.seen_len:
            seen = "".join(item.seen)
            item.seen = [seen]
            if full.startswith(seen):
                self._add(item, full[item.seen_len :])

    # -- blocks

    def _advance(self, out: list[bytes]) -> None:
        """Send what the first unfinished item holds; close and drop finished ones."""
        while self._queue:
            item = self._queue[0]
            if item.kind == "tool" and item.block is None and (item.name is not None or item.done):
                self._open(item, out)
            if item.buf and item.kind != "other":
                text = "".join(item.buf)
                if item.block is None and item.kind != "tool":
                    self._open(item, out)
                if item.block is not None:
                    item.buf = []
                    self._delta(item, text, out)
            if not item.done:
                return
            if item.block is not None:
                event = {"type": "content_block_stop", "index": item.block}
                out.append(encode_event("content_block_stop", _encode(event)))
            self._queue.pop(0)

    def _open(self, item: _Item, out: list[bytes]) -> None:
        index = self._next_index
        self._next_index += 1
        item.block = index
        if item.kind == "thinking":
            block: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
        elif item.kind == "tool":
            if not item.call_id:
                item.call_id = item.id or _new_id("toolu_")
            block = {"type": "tool_use", "id": item.call_id, "name": item.name or "", "input": {}}
        else:
            block = {"type": "text", "text": ""}
        event = {"type": "content_block_start", "index": index, "content_block": block}
        out.append(encode_event("content_block_start", _encode(event)))

    def _delta(self, item: _Item, text: str, out: list[bytes]) -> None:
        assert item.block is not None
        event = _BlockDelta(item.block, _DELTAS[item.kind](text))
        out.append(encode_event("content_block_delta", _encode(event)))

    def _start(self, out: list[bytes]) -> None:
        self.started = True
        u = self._usage
        cached = u.cached if u is not None else None
        if u is not None and u.input_tokens is not None:
            input_tokens = max(int(u.input_tokens) - (cached or 0), 0)
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

    def _end(self, resp: Response | None, out: list[bytes]) -> list[bytes]:
        if not self.started:
            self._start(out)
        # the final output list: anything the stream did not say is taken from it
        for position, payload in enumerate(resp.output or () if resp is not None else ()):
            if payload.type not in _ITEM_KINDS:
                continue
            ev = StreamEvent(output_index=position, item_id=payload.id)
            item = self._item_for(ev, payload)
            self._reconcile(item, payload)
        for item in self._queue:
            item.done = True
        self._advance(out)
        self._finished = True
        status = resp.status if resp is not None else None
        details = resp.incomplete_details if resp is not None else None
        has_tools = any(i.kind == "tool" and i.block is not None for i in self._items)
        stop_reason = _stop(status, details.reason if details else None, has_tools, self._refused)
        usage: dict[str, int] = {}
        u = self._usage
        if u is not None and u.input_tokens is not None:
            cached = u.cached
            usage["input_tokens"] = max(int(u.input_tokens) - (cached or 0), 0)
            if cached is not None:
                usage["cache_read_input_tokens"] = cached
        if u is not None and u.output_tokens is not None:
            usage["output_tokens"] = int(u.output_tokens)
        else:
            usage["output_tokens"] = (self._chars + 3) // 4
        event = {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": usage,
        }
        out.append(encode_event("message_delta", _encode(event)))
        out.append(_MESSAGE_STOP)
        return out
