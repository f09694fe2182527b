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
- Reasoning round trip: thinking blocks ccm made from this dialect's reasoning (signature
  `ccm1.chat.*`) go back, for providers whose quirk `echo_reasoning` says so, as the
  assistant message's `reasoning_content` (or `reasoning` / `reasoning_details`, per the
  quirk `reasoning_field`); an assistant tool-call message always carries the field (even
  empty) for those providers, which refuse one without it. Every other thinking block
  (Anthropic's, Gemini's, Responses') is dropped; an assistant turn left with no text and no
  tool calls is left out. Unknown block types contribute their text, if any, and never fail.
- Tool-use ids go back as the upstream minted them (see ccm.dialects.roundtrip).
- Quirks (ccm.dialects.quirks) decide: the max-tokens field (max_completion_tokens for
  OpenAI and its reasoning model names elsewhere, unless the quirk names one), the reasoning
  control (`reasoning_effort`, OpenRouter's `reasoning: {effort}`, DeepSeek/GLM `thinking:
  {type}`; effort "low" < 4096 budget tokens <= "medium" < 16384 <= "high"; adaptive:
  `output_config.effort`, "max" -> "high", default "medium"), tool limits and tool_choice,
  stop-sequence limits, images, `response_format` json_schema for Claude Code's
  `output_config.format`, `prompt_cache_key` (the Claude Code session) and `user` (a stable
  hash of metadata.user_id, never the id itself).
- For OpenAI reasoning models (quirk `reasoning_models_only`) `temperature`, `top_p` and
  `stop` are dropped (those models reject them).

Response / stream
- reasoning (`reasoning_content`, else `reasoning`; `reasoning_details` kept) -> a `thinking`
  block first, signed `ccm1.chat.*` so the next turn can give it back; content -> text; `refusal` -> text with stop_reason "refusal";
  tool_calls -> tool_use blocks (ids mapped into Anthropic's charset, or "toolu_..."
  generated); broken argument JSON is repaired where possible (common.tool_input).
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
  its own block at the end. A tool call's arguments go out whole, in one input_json_delta,
  when the call is complete: broken JSON is repaired there as in the non-stream path.
- The stream ends at `data: [DONE]`: the translator is `done` there, whatever the
  connection does afterwards.
- With no upstream usage, output_tokens is estimated as characters / 4.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ccm.dialects import common, roundtrip, websearch
from ccm.dialects import quirks as q
from ccm.dialects.base import Job, Target
from ccm.dialects.quirks import searches
from ccm.wire.claude_code import session_id, stable_user
from ccm.wire.common import error_message
from ccm.wire.openai_chat import (
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    Message,
    ToolCall,
    Usage,
)

__all__ = [
    "CHAT",
    "StreamTranslator",
    "TranslationError",
    "request_to_openai",
    "response_from_openai",
]
NAME = "chat"  # the signature prefix of this dialect's reasoning


class TranslationError(common.TranslationError):
    """An OpenAI Chat Completions upstream said something that has no Anthropic form."""


_completion_decoder = msgspec.json.Decoder(ChatCompletion)
_chunk_decoder = msgspec.json.Decoder(ChatCompletionChunk)


# --------------------------------------------------------------------------- request


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _image_part(source: Any) -> dict[str, Any] | None:
    url = common.image_url(source)
    return None if url is None else {"type": "image_url", "image_url": {"url": url}}


def _file_part(source: dict[str, Any], title: str | None) -> dict[str, Any] | None:
    if common.base64_data(source) is not None:
        return {"type": "file", "file": common.file_data(source, title)}
    url = common.source_url(source)
    if url is not None:  # Chat Completions takes no file URL: name it
        return _text_part(common.titled(f"[document: {url}]", title))
    return None


def _collapse(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if all(p["type"] == "text" for p in parts):
        return "\n\n".join(p["text"] for p in parts)
    return parts


class _Conversation(common.OpenAITurns):
    """Builds the OpenAI message list, keeping tool results next to their calls."""

    __slots__ = ("parts", "quirks")
    keep_empty = True  # user text goes as the client wrote it, empty strings included

    def __init__(self, quirks: q.Quirks) -> None:
        super().__init__()
        self.quirks = quirks
        parts = _PARTS if quirks.images else common.no_image_parts(_PARTS)
        self.parts = parts  # type: ignore[misc]

    def _output(self, call_id: str, content: str) -> dict[str, Any]:
        return {"role": "tool", "tool_call_id": call_id, "content": content}

    def _user_message(self, parts: list[dict[str, Any]]) -> dict[str, Any]:
        return {"role": "user", "content": _collapse(parts)}

    def system(self, content: Any) -> None:
        text = common.plain_text(content)
        if text:
            self.out.append({"role": "system", "content": text})

    def assistant(self, content: Any) -> None:
        self.close_calls()
        if isinstance(content, str):
            if content:
                self.out.append({"role": "assistant", "content": content})
            return
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        reasoning: list[str] = []
        details: list[Any] = []
        fields: set[str] = set()
        for block in common.blocks(content):
            kind = block.get("type")
            if kind == "tool_use":
                call_id = block.get("id") if isinstance(block.get("id"), str) else None
                calls.append(
                    {
                        "id": roundtrip.to_upstream_id(call_id or common.new_id("toolu_")),
                        "type": "function",
                        "function": {
                            "name": block.get("name") or "",
                            "arguments": common.encode(block.get("input") or {}).decode(),
                        },
                    }
                )
            elif (own := roundtrip.own_thinking(block, NAME)) is not None:
                text, payload = own
                if text:
                    reasoning.append(text)
                if isinstance(payload, dict) and isinstance(payload.get("f"), str):
                    fields.add(payload["f"])
                if isinstance(payload, dict) and isinstance(payload.get("d"), list):
                    details.extend(payload["d"])
            elif kind not in common.SKIP_BLOCKS:
                text = common.plain_text(block)
                if text:
                    texts.append(text)
        if not texts and not calls:
            return  # e.g. only thinking: an empty assistant message is rejected by some APIs
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "\n\n".join(texts) if texts else None,
        }
        # reasoning goes back where the provider wants it (its quirk says so), or where it
        # came as reasoning_content (the DeepSeek/Kimi/GLM form, whatever the type is called)
        echo = self.quirks.echo_reasoning or "reasoning_content" in fields
        if echo and (calls or reasoning or details):
            field = (
                self.quirks.reasoning_field if self.quirks.echo_reasoning else "reasoning_content"
            )
            if field == "reasoning_details":
                if details:
                    message["reasoning_details"] = details
                elif reasoning:
                    message["reasoning"] = "".join(reasoning)
            else:
                message[field] = "".join(reasoning)  # present on tool-call turns, even empty
        if calls:
            message["tool_calls"] = calls
        self.out.append(message)
        if calls:
            self._expect([c["id"] for c in calls])


_PARTS = common.Parts(_text_part, _image_part, _file_part)


def _function_tool(function: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": function}


def _named_tool(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


def _web_search(
    req: dict[str, Any], body: dict[str, Any], quirks: q.Quirks, actual_model: str
) -> None:
    """Anthropic's web_search tool as the provider's own search: `web_search_options` on
    OpenAI's search models (user_location as `{type: approximate, approximate: {...}}`),
    OpenRouter's `web` plugin. A tool_choice naming the tool goes (it is no function here)."""
    tool = websearch.server_tool(body)
    if tool is None or not searches(quirks, actual_model):
        return
    if quirks.web_search == "chat_options":
        options: dict[str, Any] = {}
        location = tool.get("user_location")
        if isinstance(location, dict):
            where = {k: v for k, v in location.items() if k != "type"}
            options["user_location"] = {"type": "approximate", "approximate": where}
        req["web_search_options"] = options
    elif quirks.web_search == "openrouter":
        req["plugins"] = [{"id": "web"}]
    choice = req.get("tool_choice")
    name = websearch.tool_name(tool)
    if isinstance(choice, dict) and choice.get("function", {}).get("name") == name:
        req.pop("tool_choice")


def _reasoning_request(
    req: dict[str, Any], body: dict[str, Any], quirks: q.Quirks, reasoner: bool
) -> None:
    """Claude Code's thinking / output_config.effort as the provider's reasoning control."""
    effort = common.effort(body, bool_budget=True)
    param = quirks.reasoning_param
    if param == "thinking":
        kind, _ = common.thinking(body)
        if kind in ("enabled", "adaptive"):
            req["thinking"] = {"type": "enabled"}
        elif kind == "disabled":
            req["thinking"] = {"type": "disabled"}
    elif effort is None:
        return
    elif param == "reasoning_effort" and (reasoner or not quirks.reasoning_models_only):
        req["reasoning_effort"] = effort
    elif param == "reasoning":
        req["reasoning"] = {"effort": effort}


def request_to_openai(
    body: dict[str, Any], actual_model: str, *, stream: bool, quirks: q.Quirks = q.OPENAI
) -> dict[str, Any]:
    """An Anthropic Messages request (decoded JSON) as an OpenAI Chat Completions request.

    Anthropic-only fields (context_management, service_tier, container, mcp_servers, top_k,
    cache_control ...) are dropped; malformed parts are skipped, never fatal.
    """
    conv = _Conversation(quirks)
    conv.system(body.get("system"))
    common.walk_messages(body, conv.system, conv.assistant, conv.user)

    reasoner = common.is_reasoning_model(actual_model)
    strict = quirks.reasoning_models_only and reasoner  # o-series / gpt-5 on the OpenAI API
    req: dict[str, Any] = {"model": actual_model, "messages": conv.out}

    max_tokens = common.max_tokens(body, quirks.max_output_tokens)
    if max_tokens is not None:
        field = quirks.max_tokens_field
        if field is None:
            field = "max_completion_tokens" if reasoner else "max_tokens"
        req[field] = max_tokens
    if not strict:
        if quirks.sampling:
            for key in ("temperature", "top_p"):
                if isinstance(body.get(key), int | float):
                    req[key] = body[key]
        stops = common.stop_sequences(body, quirks.max_stop_sequences)
        if stops:
            req["stop"] = stops

    tools = common.openai_tools(body.get("tools"), _function_tool, keep_schema=True)
    if quirks.clean_schema:
        for tool in tools:
            tool["function"]["parameters"] = common.lean_schema(tool["function"]["parameters"])
    common.add_openai_tools(req, body, tools[: quirks.max_tools], _named_tool)
    _web_search(req, body, quirks, actual_model)
    if not quirks.tool_choice:
        req.pop("tool_choice", None)

    _reasoning_request(req, body, quirks, reasoner)

    config = body.get("output_config")
    if quirks.json_schema and isinstance(config, dict):
        fmt = config.get("format")
        schema = fmt.get("schema") if isinstance(fmt, dict) else None
        if isinstance(schema, dict) and fmt.get("type") == "json_schema":
            req["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": schema},
            }

    if quirks.user_field and (user := stable_user(body)):
        req["user"] = user
    if quirks.prompt_cache_key and (session := session_id(body)):
        req["prompt_cache_key"] = session

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


def _usage(u: Usage | None) -> dict[str, int]:
    if u is None:
        return common.usage()
    return common.usage(u.prompt_tokens, u.completion_tokens, u.cached)


def _signature(quirks_field: str, details: list[Any] | None) -> str:
    """The signature of a thinking block made from this dialect's reasoning."""
    payload: dict[str, Any] = {"f": quirks_field}
    if details:
        payload["d"] = details
    return roundtrip.sign(NAME, payload)


def response_from_openai(raw: bytes, requested_model: str) -> dict[str, Any]:
    """An OpenAI non-stream response body as an Anthropic `message` dict."""
    resp = common.decode_body(
        _completion_decoder, raw, TranslationError, "an OpenAI chat completion"
    )
    if resp.error is not None:
        raise TranslationError(f"upstream error: {error_message(resp.error)}")
    choices = resp.choices or []
    if not choices:
        raise TranslationError("upstream response has no choices")
    choice = next((c for c in choices if not c.index), choices[0])
    msg = choice.message or Message()

    content: list[dict[str, Any]] = []
    reasoning = msg.reasoning_content or msg.reasoning
    if reasoning or msg.reasoning_details:
        field = "reasoning_content" if msg.reasoning_content else "reasoning"
        signature = _signature(field, msg.reasoning_details)
        content.append({"type": "thinking", "thinking": reasoning or "", "signature": signature})
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
                "id": roundtrip.to_anthropic_id(call.id),
                "name": (fn.name if fn else None) or "",
                "input": common.tool_input(fn.arguments if fn else None),
            }
        )
    stop_reason, stop_sequence = _stop(
        choice.finish_reason or None, bool(msg.tool_calls), _matched(choice), refused
    )
    return common.message(requested_model, content, stop_reason, stop_sequence, _usage(resp.usage))


# --------------------------------------------------------------------------- stream


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
            common.json_decoder.decode(text)
        except msgspec.DecodeError:
            return False
        return True


class StreamTranslator(common.AnthropicStream):
    """OpenAI Chat Completions stream chunks in, Anthropic SSE events out.

    `feed` takes the upstream's bytes (`event` one `data:` payload, "[DONE]" included) and
    `finish` the upstream's end. Both return encoded SSE events; `started` tells whether
    message_start has gone out (after that, failures must be sent as SSE error events).
    """

    def __init__(self, requested_model: str, input_tokens_estimate: int = 0) -> None:
        super().__init__(requested_model, input_tokens_estimate)
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
        self._done = False
        self._field = "reasoning"  # where reasoning came from: reasoning_content or reasoning
        self._details: list[Any] = []  # OpenRouter reasoning_details, merged by index
        self._signed = -1  # len(self._details) when the last signature went out

    # -- input

    def event(self, data: str, name: str = "") -> list[bytes]:
        data = self._payload(data)
        if not data:
            return []
        if data == "[DONE]":
            self._done = True
            return self.end()
        chunk = common.decode_chunk(_chunk_decoder, data, TranslationError)
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
                if delta.reasoning_details:
                    self._merge_details(delta.reasoning_details)
                reasoning = delta.reasoning_content or delta.reasoning
                if delta.reasoning_content:
                    self._field = "reasoning_content"
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

    def _merge_details(self, details: list[Any]) -> None:
        """Stream pieces of reasoning_details: items with the same `index` are one item."""
        for item in details:
            if not isinstance(item, dict):
                continue
            index = item.get("index")
            same = next(
                (d for d in self._details if index is not None and d.get("index") == index),
                None,
            )
            if same is None:
                self._details.append(dict(item))
                continue
            for key, value in item.items():
                if isinstance(value, str) and isinstance(same.get(key), str) and key != "type":
                    same[key] += value
                elif key not in same or same[key] is None:
                    same[key] = value

    def end(self) -> list[bytes]:
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
        if self._details and self._signed != len(self._details):
            self._open("thinking", out)  # details after the reasoning text closed: keep them
            self._close(out)
        self._finished = True
        has_tools = bool(self._tools)
        stop_reason, stop_sequence = _stop(
            self._finish_reason, has_tools, self._stop_sequence, self._refused
        )
        u = self._usage or Usage()
        self._message_end(
            out, stop_reason, stop_sequence, u.prompt_tokens, u.cached, u.completion_tokens
        )
        return out

    # -- blocks

    def _start(self, out: list[bytes]) -> None:
        u = self._usage or Usage()
        self._message_start(out, u.prompt_tokens, u.cached)

    def _open(self, kind: str, out: list[bytes]) -> None:
        self._live_index = self._block_start(out, kind)
        self._live = kind

    def _open_tool(self, tool: _Tool, out: list[bytes]) -> None:
        tool_id = roundtrip.to_anthropic_id(tool.id)
        tool.block = self._live_index = self._block_start(out, "tool", tool_id, tool.name or "")
        self._live = tool

    def _close(self, out: list[bytes]) -> None:
        live = self._live
        if live is None:
            return
        if isinstance(live, _Tool):
            live.closed = True
            if live.args:  # whole, once: broken JSON can still be repaired here
                self._json_delta(common.tool_arguments_json("".join(live.args)), out)
        elif live == "thinking":
            self._signed = len(self._details)
            signature = _signature(self._field, self._details)
            self._block_delta(out, self._live_index, "signature", signature)
        self._block_stop(out, self._live_index)
        self._live = None

    def _delta(self, text: str, out: list[bytes]) -> None:
        self._block_delta(out, self._live_index, self._live, text)  # type: ignore[arg-type]

    def _json_delta(self, text: str, out: list[bytes]) -> None:
        self._block_delta(out, self._live_index, "tool", text)

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
            piece = common.arguments_text(args)
        if piece:
            if tool.closed:
                return  # arguments after the call's JSON was complete: nothing can hold them
            tool.args.append(piece)
            self._chars += len(piece)
        if tool is self._live:
            if piece and self._pending and ("}" in piece or "]" in piece):
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


class ChatDialect(common.Translated):
    """OpenAI Chat Completions: `POST {base_url}/chat/completions`."""

    name = NAME
    stream_class = StreamTranslator
    to_upstream = staticmethod(request_to_openai)
    from_upstream = staticmethod(response_from_openai)

    def url(self, job: Job, target: Target) -> str:
        return target.base_url + "/chat/completions"


CHAT = ChatDialect()
