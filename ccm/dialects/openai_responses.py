"""Anthropic Messages <-> OpenAI Responses API (`POST /v1/responses`): request, response and
stream translation. Used for OpenAI Responses providers and the ChatGPT/Codex OAuth backend
(`https://chatgpt.com/backend-api/codex/responses`).

Public interface (mirrors ccm.dialects.openai_chat):
    RESPONSES, CODEX: the dialect (OpenAI Responses; the ChatGPT/Codex backend variant)
    request_to_responses(body, actual_model, *, stream, quirks, codex=False) -> dict
    response_from_responses(raw, requested_model) -> dict
    StreamTranslator(requested_model, input_tokens_estimate=0): .feed(bytes) .finish()
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
- Reasoning round trip: a thinking block ccm made from a Responses reasoning item (signature
  `ccm1.resp.*`, holding the item's `encrypted_content`) goes back as a `reasoning` input
  item in its place (summary text + encrypted_content, no id: nothing is stored upstream);
  every other thinking block is dropped; an assistant turn left empty is left out.
- Tool-use ids go back as the upstream minted them (see ccm.dialects.roundtrip).
- tools -> `{"type": "function", name, description, parameters, strict: false}`;
  Anthropic's web_search server tool -> the hosted `{"type": "web_search"}` (allowed_domains
  as `filters`, user_location as it is; `include: ["web_search_call.action.sources"]`, not on
  the Codex backend; a tool_choice naming it -> "required" when it is the only tool, else
  "auto"); other server tools (bash_..., text_editor_...) are dropped. tool_choice: auto -> "auto", any ->
  "required", none -> "none", tool -> `{"type": "function", "name"}`;
  disable_parallel_tool_use -> `parallel_tool_calls: false`.
- max_tokens -> `max_output_tokens`, raised to the API's minimum of 16.
- thinking enabled/adaptive -> `reasoning: {effort, summary: "auto"}` (effort: "low" < 4096
  budget tokens <= "medium" < 16384 <= "high"; adaptive: `output_config.effort`, "max" ->
  "high", default "medium") and `include: ["reasoning.encrypted_content"]` (the reasoning
  comes back encrypted, to be given back next turn). With the quirk `reasoning_models_only`
  (the OpenAI API) not for a model that takes no reasoning (gpt-4o, gpt-4.1 reject it):
  o-series, gpt-5*, codex* and gpt-oss* get it everywhere.
- temperature / top_p are passed, except for reasoning models (o-series, gpt-5*, codex*)
  and the Codex backend. stop_sequences, top_k and Anthropic-only fields are dropped (the
  Responses API has no stop sequences).
- `output_config.format` (json_schema) -> `text: {"format": {"type": "json_schema", ...}}`.
- `store: false` always (the Codex backend requires it; nothing is kept upstream).
- The Codex backend (the CODEX variant: ChatGPT sign-in) also gets: `stream: true` always
  (it refuses non-stream requests; response_from_responses accepts the SSE body), no
  `max_output_tokens` (it rejects the parameter), and non-empty `instructions` (it requires
  them). `prompt_cache_key` (Claude Code's session id from metadata.user_id) goes where the
  quirk says (the OpenAI API, the Codex backend), so turns of one session share the prompt
  cache.

Response / stream
- Output items in order: `reasoning` summary text (else its reasoning_text content) -> a
  `thinking` block signed `ccm1.resp.*` (with the item's encrypted_content, when given); `message` output_text (and refusal) -> a text
  block; `function_call` -> tool_use (id = call_id, input = parsed arguments; invalid JSON
  -> {} in the non-stream path); `web_search_call` (the hosted search ccm asks for when the
  request offers Anthropic's web_search tool) -> `server_tool_use` {query} and a
  `web_search_tool_result` listing the sources it read. Other built-in tool items are ignored.
- stop_reason: status incomplete -> max_tokens (content_filter -> refusal); else any
  function_call -> tool_use; a refusal -> refusal; else end_turn.
- usage: input_tokens = input_tokens - input_tokens_details.cached_tokens,
  cache_read_input_tokens = cached, output_tokens (reasoning included, as Anthropic's).
- Streams: the first event after response.created/in_progress -> message_start + ping; one Anthropic block per output item,
  opened on its first content (tool_use blocks on output_item.added) and closed on
  output_item.done; a function call's arguments go out whole when it is done (broken JSON
  repaired, as in the non-stream path). Blocks are never interleaved: an item's events that arrive while an
  earlier item is still open are held and sent when it closes. Text the `done` events (or
  the final response) carry but no delta did is sent then, so servers that skip deltas
  lose nothing. response.completed / response.incomplete -> message_delta + message_stop;
  response.failed and `error` events raise TranslationError with the upstream message.
- With no upstream usage, output_tokens is estimated as characters / 4.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import msgspec

from ccm.dialects import common, roundtrip, websearch
from ccm.dialects import quirks as q
from ccm.dialects.base import Call, Credential, Job, Target
from ccm.wire.claude_code import session_id
from ccm.wire.common import error_message
from ccm.wire.openai_responses import (
    OutputItem,
    Response,
    StreamEvent,
    Usage,
)

__all__ = [
    "CODEX",
    "RESPONSES",
    "StreamTranslator",
    "TranslationError",
    "request_to_responses",
    "response_from_responses",
]


class TranslationError(common.TranslationError):
    """An OpenAI Responses API upstream said something that has no Anthropic form."""


_response_decoder = msgspec.json.Decoder(Response)
_event_decoder = msgspec.json.Decoder(StreamEvent)

NAME = "resp"  # the signature prefix of this dialect's reasoning
# open-weight reasoners that take `reasoning.effort` but also sampling parameters
_TAKES_REASONING = re.compile(r"^gpt-oss", re.IGNORECASE)
_MIN_OUTPUT_TOKENS = 16
_CACHE_KEY_LIMIT = 64
_CODEX_INSTRUCTIONS = "You are a helpful assistant."
_ENCRYPTED = ["reasoning.encrypted_content"]


def _takes_reasoning(model: str) -> bool:
    name = model.rsplit("/", 1)[-1]
    return common.is_reasoning_model(name) or bool(_TAKES_REASONING.match(name))


# --------------------------------------------------------------------------- request


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "input_text", "text": text}


def _image_part(source: Any) -> dict[str, Any] | None:
    url = common.image_url(source)
    return None if url is None else {"type": "input_image", "image_url": url, "detail": "auto"}


def _file_part(source: dict[str, Any], title: str | None) -> dict[str, Any] | None:
    if common.base64_data(source) is not None:
        return {"type": "input_file", **common.file_data(source, title)}
    url = common.source_url(source)
    return None if url is None else {"type": "input_file", "file_url": url}


def _message(role: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "message", "role": role, "content": parts}


class _Input(common.OpenAITurns):
    """Builds the Responses `input` list, keeping tool outputs next to their calls."""

    __slots__ = ()
    parts = common.Parts(_text_part, _image_part, _file_part)

    def _output(self, call_id: str, content: str) -> dict[str, Any]:
        return {"type": "function_call_output", "call_id": call_id, "output": content}

    def _user_message(self, parts: list[dict[str, Any]]) -> dict[str, Any]:
        return _message("user", parts)

    def developer(self, content: Any) -> None:
        text = common.plain_text(content)
        if text:
            self.out.append(_message("developer", [_text_part(text)]))

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

        for block in common.blocks(content):
            kind = block.get("type")
            if kind == "tool_use":
                flush_text()
                call_id = block.get("id") if isinstance(block.get("id"), str) else None
                call_id = roundtrip.to_upstream_id(call_id or common.new_id("call_"))
                name = block.get("name") if isinstance(block.get("name"), str) else ""
                arguments = block.get("input")
                self.out.append(
                    {
                        "type": "function_call",
                        "call_id": call_id,
                        "name": name,
                        "arguments": common.encode(
                            arguments if arguments is not None else {}
                        ).decode(),
                    }
                )
                calls.append(call_id)
            elif (own := roundtrip.own_thinking(block, NAME)) is not None:
                flush_text()
                item = _reasoning_item(*own)
                if item is not None:
                    self.out.append(item)
            elif kind not in common.SKIP_BLOCKS:
                text = common.plain_text(block)
                if text:
                    texts.append(text)
        flush_text()
        if calls:
            self._expect(calls)


def _reasoning_item(text: str, payload: Any) -> dict[str, Any] | None:
    """A reasoning input item from a thinking block this dialect signed (None without the
    encrypted content: with nothing stored upstream, there is nothing else to refer to)."""
    encrypted = payload.get("e") if isinstance(payload, dict) else None
    if not isinstance(encrypted, str) or not encrypted:
        return None
    summary = [{"type": "summary_text", "text": text}] if text else []
    return {"type": "reasoning", "summary": summary, "encrypted_content": encrypted}


def _function_tool(function: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", **function, "strict": False}


def _named_tool(name: str) -> dict[str, Any]:
    return {"type": "function", "name": name}


_SOURCES = "web_search_call.action.sources"


def _search_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """Anthropic's web_search tool as the Responses `web_search` tool: allowed domains as its
    filter, the user location as it is (both APIs say type/city/region/country/timezone)."""
    out: dict[str, Any] = {"type": "web_search"}
    allowed = tool.get("allowed_domains")
    if isinstance(allowed, list) and allowed:
        out["filters"] = {"allowed_domains": [d for d in allowed if isinstance(d, str)]}
    location = tool.get("user_location")
    if isinstance(location, dict):
        out["user_location"] = {"type": "approximate", **location}
    return out


def _search_blocks(item: OutputItem) -> list[dict[str, Any]]:
    """A web_search_call item as Anthropic's server_tool_use + web_search_tool_result."""
    action = item.action
    query = ""
    results: list[tuple[str, str]] = []
    if action is not None:
        query = action.query or (action.queries[0] if action.queries else "") or action.url or ""
        for source in action.sources or ():
            if source.url and all(source.url != url for url, _ in results):
                results.append((source.url, source.title or ""))
    tool_id = "srvtoolu_" + item.id if item.id else None
    return websearch.server_blocks("web_search", query, results, tool_id=tool_id)


def request_to_responses(
    body: dict[str, Any],
    actual_model: str,
    *,
    stream: bool,
    quirks: q.Quirks = q.RESPONSES,
    codex: bool = False,
) -> dict[str, Any]:
    """An Anthropic Messages request (decoded JSON) as an OpenAI Responses API request;
    `codex`: for the ChatGPT/Codex backend.

    Anthropic-only fields (context_management, service_tier, container, mcp_servers, top_k,
    cache_control ...) are dropped; malformed parts are skipped, never fatal.
    """
    items = _Input()
    common.walk_messages(body, items.developer, items.assistant, items.user)
    items.close_calls()

    reasoner = codex or common.is_reasoning_model(actual_model)
    req: dict[str, Any] = {"model": actual_model}
    instructions = common.plain_text(body.get("system"))
    if instructions:
        req["instructions"] = instructions
    elif codex:
        req["instructions"] = _CODEX_INSTRUCTIONS
    req["input"] = items.out

    tools = common.openai_tools(body.get("tools"), _function_tool)
    search = websearch.server_tool(body) if quirks.web_search == "responses" else None
    if search is not None:
        tools = [*tools[: quirks.max_tools - 1], _search_tool(search)]
    common.add_openai_tools(req, body, tools[: quirks.max_tools], _named_tool)
    if search is not None:
        if not codex:
            req["include"] = [_SOURCES]  # which pages the search read
        choice = req.get("tool_choice")
        if isinstance(choice, dict) and choice.get("name") == websearch.tool_name(search):
            req["tool_choice"] = "required" if len(tools) == 1 else "auto"
    if not quirks.tool_choice:
        req.pop("tool_choice", None)

    max_tokens = common.max_tokens(body, quirks.max_output_tokens)
    if max_tokens is not None and not codex:
        req["max_output_tokens"] = max(max_tokens, _MIN_OUTPUT_TOKENS)
    if not reasoner and quirks.sampling:
        for key in ("temperature", "top_p"):
            value = body.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                req[key] = value

    effort = common.effort(body)
    takes = reasoner or _takes_reasoning(actual_model) or not quirks.reasoning_models_only
    if effort is not None and takes:
        req["reasoning"] = {"effort": effort, "summary": "auto"}
        req["include"] = [*_ENCRYPTED, *req.get("include", ())]

    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    schema = fmt.get("schema") if isinstance(fmt, dict) else None
    if isinstance(schema, dict) and isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        req["text"] = {
            "format": {"type": "json_schema", "name": "output", "schema": schema, "strict": False}
        }

    if codex or quirks.prompt_cache_key:
        key = session_id(body)
        if key:
            req["prompt_cache_key"] = key[:_CACHE_KEY_LIMIT]

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


def _usage(u: Usage | None) -> dict[str, int]:
    if u is None:
        return common.usage()
    return common.usage(u.input_tokens, u.output_tokens, u.cached)


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
    resp = common.decode_body(_response_decoder, raw, TranslationError, "a Responses API object")
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
            if thinking or item.encrypted_content:
                signature = _signature(item.encrypted_content)
                content.append({"type": "thinking", "thinking": thinking, "signature": signature})
        elif item.type == "message":
            text, refusal = _message_text(item)
            refused = refused or refusal
            if text:
                content.append({"type": "text", "text": text})
        elif item.type == "web_search_call":
            content.extend(_search_blocks(item))
        elif item.type == "function_call":
            has_tools = True
            content.append(
                {
                    "type": "tool_use",
                    "id": roundtrip.to_anthropic_id(item.call_id or item.id),
                    "name": item.name or "",
                    "input": common.tool_input(item.arguments),
                }
            )
    reason = resp.incomplete_details.reason if resp.incomplete_details else None
    stop_reason = _stop(resp.status, reason, has_tools, refused)
    return common.message(requested_model, content, stop_reason, None, _usage(resp.usage))


def _from_sse(raw: bytes, requested_model: str) -> dict[str, Any]:
    translator = StreamTranslator(requested_model)
    out = translator.feed(raw) + translator.finish()
    return common.collect(b"".join(out))


def _signature(encrypted: str | None) -> str:
    return roundtrip.sign(NAME, {"e": encrypted} if encrypted else {})


# --------------------------------------------------------------------------- stream


_ITEM_KINDS = {
    "message": "text",
    "reasoning": "thinking",
    "function_call": "tool",
    "web_search_call": "search",
}
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
        "encrypted",
        "id",
        "kind",
        "name",
        "part",
        "payload",
        "seen",
        "seen_len",
        "source",
    )

    def __init__(self, kind: str) -> None:
        self.kind = kind  # "text" | "thinking" | "tool" | "search" | "other"
        self.payload: OutputItem | None = None  # search: the item as done (its action)
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
        self.encrypted: str | None = None  # reasoning: what goes back next turn


# events before any output: message_start waits for what follows them
_PRELUDE = frozenset({"response.created", "response.in_progress", "response.queued"})


class StreamTranslator(common.AnthropicStream):
    """OpenAI Responses stream events in, Anthropic SSE events out.

    Call `feed` with each upstream event's `data:` payload (and its `event:` name, used only
    when the payload has no `type`) and `finish` when the upstream ends. Both return encoded
    SSE events; `started` tells whether message_start has gone out (after that, failures
    must be sent as SSE error events).
    """

    def __init__(self, requested_model: str, input_tokens_estimate: int = 0) -> None:
        super().__init__(requested_model, input_tokens_estimate)
        self._items: list[_Item] = []  # every item, in order of appearance
        self._queue: list[_Item] = []  # items not finished yet; the first one may be open
        self._by_key: dict[int, _Item] = {}
        self._by_id: dict[str, _Item] = {}
        self._usage: Usage | None = None
        self._refused = False

    # -- input

    def event(self, data: str, name: str = "") -> list[bytes]:
        event = name
        data = self._payload(data)
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

    def end(self) -> list[bytes]:
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
                value = common.json_decoder.decode(data)
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
            full = common.arguments_text(payload.arguments)
        elif item.kind == "text":
            full, refused = _message_text(payload)
            self._refused = self._refused or refused
        elif item.kind == "thinking":
            if payload.encrypted_content:
                item.encrypted = payload.encrypted_content
            full, source = _reasoning_text(payload, item.source)
            if full and item.source is None:
                item.source = source
        else:
            if item.kind == "search" and (item.payload is None or payload.action is not None):
                item.payload = payload
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
            if item.buf and item.kind not in ("other", "tool"):
                text = "".join(item.buf)
                if item.block is None:
                    self._open(item, out)
                item.buf = []
                self._delta(item, text, out)
            if not item.done:
                return
            if item.kind == "search" and item.payload is not None:
                self._whole_blocks(out, _search_blocks(item.payload))
            if item.kind == "thinking" and item.block is None and item.encrypted:
                self._open(item, out)  # no summary text, but reasoning to give back
            if item.block is not None:
                if item.kind == "thinking":
                    signature = _signature(item.encrypted)
                    self._block_delta(out, item.block, "signature", signature)
                elif item.kind == "tool" and item.buf:  # whole, once: broken JSON repaired
                    self._delta(item, common.tool_arguments_json("".join(item.buf)), out)
                    item.buf = []
                self._block_stop(out, item.block)
            self._queue.pop(0)

    def _open(self, item: _Item, out: list[bytes]) -> None:
        if item.kind == "tool":
            item.call_id = roundtrip.to_anthropic_id(item.call_id or item.id)
        item.block = self._block_start(out, item.kind, item.call_id or "", item.name or "")

    def _delta(self, item: _Item, text: str, out: list[bytes]) -> None:
        assert item.block is not None
        self._block_delta(out, item.block, item.kind, text)

    def _start(self, out: list[bytes]) -> None:
        u = self._usage or Usage()
        self._message_start(out, u.input_tokens, u.cached)

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
        u = self._usage or Usage()
        self._message_end(out, stop_reason, None, u.input_tokens, u.cached, u.output_tokens)
        return out


class ResponsesDialect(common.Translated):
    """OpenAI Responses: `POST {base_url}/responses`; `codex`: the ChatGPT/Codex backend,
    which signs in with ChatGPT (its account id from the token goes as a header)."""

    name = NAME
    stream_class = StreamTranslator
    to_upstream = staticmethod(request_to_responses)
    from_upstream = staticmethod(response_from_responses)

    def __init__(self, codex: bool = False) -> None:
        self.codex = codex

    def payload_options(self) -> dict[str, Any]:
        return {"codex": self.codex}

    def url(self, job: Job, target: Target) -> str:
        return target.base_url + "/responses"

    def build(self, job: Job, target: Target, credential: Credential) -> Call:
        call = super().build(job, target, credential)
        if self.codex and credential.kind == "token" and credential.secret:
            account = chatgpt_account_id(credential.secret)
            if account:
                call.headers["chatgpt-account-id"] = account
        return call


def chatgpt_account_id(access: str) -> str | None:
    """The ChatGPT account id in a ChatGPT OAuth access token (a JWT), for the
    ``chatgpt-account-id`` header of the Codex Responses endpoint; None if absent."""
    parts = access.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    auth = payload.get("https://api.openai.com/auth") if isinstance(payload, dict) else None
    account = auth.get("chatgpt_account_id") if isinstance(auth, dict) else None
    return account if isinstance(account, str) and account else None


RESPONSES = ResponsesDialect()
CODEX = ResponsesDialect(codex=True)
