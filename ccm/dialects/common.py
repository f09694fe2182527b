"""What the translators to OpenAI Chat Completions, OpenAI Responses and Gemini share.

- decode helpers that raise the dialect's TranslationError (a ValueError: dispatch treats any
  of them as a garbage answer);
- request: the walk over `messages` by role (`walk_messages`), the plain text of Anthropic
  content (`plain_text`), a user turn's blocks as a dialect's parts (`user_parts`, given the
  dialect's `Parts` builders) and a tool_result's text and media (`tool_result_content`);
  for the two OpenAI dialects also the message/item list that keeps tool outputs next to
  their calls (`OpenAITurns`), tools and tool_choice, and the reasoning effort;
- response: tool call arguments (broken JSON repaired where json-repair makes an object of
  it), Anthropic `usage` and `message` objects;
- stream: `AnthropicStream`, the Anthropic SSE writer under each StreamTranslator (the
  upstream's SSE framing, message_start and ping, numbered content blocks, message_delta and
  message_stop, `done` and `usage`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import msgspec

from ccm.dialects.base import Translated, TranslationError, Usage
from ccm.dialects.roundtrip import new_id, to_upstream_id
from ccm.dialects.sse import SSEDecoder, encode_event

encode = msgspec.json.encode
json_decoder = msgspec.json.Decoder()

# blocks whose text (if any) is never sent as text: reasoning and tool calls. A tuple, not a
# set: a client's block `type` may be unhashable (a list), which must not raise TypeError.
SKIP_BLOCKS = ("thinking", "redacted_thinking", "tool_use", "server_tool_use")
# message roles that are system prompts rather than turns
SYSTEM_ROLES = frozenset({"system", "developer"})
# the output sent for a tool call that got no result (OpenAI-style APIs want one per call)
NO_RESULT = "Error: no result was given for this tool call."


T = TypeVar("T")


__all__ = ["Translated", "TranslationError", "new_id"]
RAW_ARGUMENTS = "_raw_arguments"  # tool input key for arguments that are not JSON at all


def decode_body(
    decoder: msgspec.json.Decoder[T], raw: bytes, error: type[TranslationError], what: str
) -> T:
    """A non-stream answer; `error` (the dialect's class) if it is not `what`."""
    try:
        return decoder.decode(raw)
    except msgspec.DecodeError as e:
        raise error(f"upstream response is not {what}: {e}") from None


def decode_chunk(decoder: msgspec.json.Decoder[T], data: str, error: type[TranslationError]) -> T:
    """One stream chunk; `error` (the dialect's class) if it does not decode."""
    try:
        return decoder.decode(data)
    except msgspec.DecodeError as e:
        raise error(f"upstream sent an invalid stream chunk ({e}): {data[:200]!r}") from None


# --------------------------------------------------------------------------- request


def plain_text(value: Any) -> str:
    """The text in a string, a block or a list of blocks; non-text blocks add nothing."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n\n".join(t for v in value if (t := plain_text(v)))
    if isinstance(value, dict):
        text = value.get("text")
        if isinstance(text, str):
            return text
        if value.get("type") in SKIP_BLOCKS:
            return ""
        content = value.get("content")
        if isinstance(content, str | list):
            return plain_text(content)
    return ""


def blocks(content: Any) -> Iterator[dict[str, Any]]:
    """The blocks of a turn's content: a string as one text block, plain strings inside a
    list as text blocks; anything that is not an object is skipped."""
    for block in content if isinstance(content, list) else [content]:
        if isinstance(block, str):
            if block:
                yield {"type": "text", "text": block}
        elif isinstance(block, dict):
            yield block


def titled(text: str, title: str | None) -> str:
    return f"{title}\n\n{text}" if title and text else text


def base64_data(source: dict[str, Any]) -> str | None:
    """The data of a `base64` image/document source."""
    data = source.get("data")
    return data if source.get("type") == "base64" and isinstance(data, str) else None


def source_url(source: dict[str, Any]) -> str | None:
    """The address of a `url` image/document source."""
    url = source.get("url")
    return url if source.get("type") == "url" and isinstance(url, str) else None


def image_url(source: Any) -> str | None:
    """An image source as a URL (a data URL for base64 data); None for what no URL can
    name (e.g. a Files API file_id)."""
    if not isinstance(source, dict):
        return None
    data = base64_data(source)
    if data is not None:
        return f"data:{source.get('media_type') or 'image/png'};base64,{data}"
    return source_url(source)


def file_data(source: dict[str, Any], title: str | None) -> dict[str, str]:
    """`filename` and `file_data` (a data URL) of a base64 document, for OpenAI file parts."""
    media = source.get("media_type") or "application/pdf"
    name = title or ("document.pdf" if media == "application/pdf" else "document")
    return {"filename": name, "file_data": f"data:{media};base64,{source['data']}"}


@dataclass(frozen=True, slots=True)
class Parts:
    """How a dialect writes the parts of a user turn."""

    text: Callable[[str], dict[str, Any]]
    # an image block's source as a part; None when the dialect has no form for it
    image: Callable[[Any], dict[str, Any] | None]
    # a document's source (a dict) and title as a part; None: send the document's text
    file: Callable[[dict[str, Any], str | None], dict[str, Any] | None]


def document_parts(block: dict[str, Any], parts: Parts) -> list[dict[str, Any]]:
    """A document block: the dialect's file part, else its text (under its title), if any."""
    source = block.get("source")
    if not isinstance(source, dict):
        return []
    title = block.get("title") if isinstance(block.get("title"), str) else None
    part = parts.file(source, title)
    if part is not None:
        return [part]
    kind = source.get("type")
    if kind == "text":
        text = source.get("data") if isinstance(source.get("data"), str) else ""
    elif kind == "content":
        text = plain_text(source.get("content"))
    else:
        return []
    text = titled(text, title)
    return [parts.text(text)] if text else []


def user_parts(
    content: Any,
    parts: Parts,
    tool_result: Callable[[dict[str, Any], list[dict[str, Any]]], None],
    *,
    keep_empty: bool = False,
) -> list[dict[str, Any]]:
    """The parts of a user turn's blocks, in order. `tool_result(block, parts)` handles each
    tool_result block (it may add to the parts so far). Empty text is left out, except plain
    string blocks with `keep_empty`; unknown blocks give their text, if any."""
    out: list[dict[str, Any]] = []
    for block in content if isinstance(content, list) else ():
        if isinstance(block, str):
            if block or keep_empty:
                out.append(parts.text(block))
            continue
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "tool_result":
            tool_result(block, out)
        elif kind == "text":
            if isinstance(block.get("text"), str) and block["text"]:
                out.append(parts.text(block["text"]))
        elif kind == "image":
            part = parts.image(block.get("source"))
            if part is not None:
                out.append(part)
        elif kind == "document":
            out.extend(document_parts(block, parts))
        elif kind not in SKIP_BLOCKS:
            text = plain_text(block)
            if text:
                out.append(parts.text(text))
    return out


def tool_result_content(
    block: dict[str, Any], parts: Parts
) -> tuple[str, str, list[dict[str, Any]]]:
    """(tool_use_id, text, media parts) of a tool_result block: its texts (and the text of
    its documents) joined by blank lines; its images (and file documents) as the dialect's
    parts."""
    call_id = block.get("tool_use_id") if isinstance(block.get("tool_use_id"), str) else ""
    content = block.get("content")
    texts: list[str] = []
    media: list[dict[str, Any]] = []
    for item in content if isinstance(content, list) else (content,):
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict):
            kind = item.get("type")
            if kind == "image":
                part = parts.image(item.get("source"))
                if part is not None:
                    media.append(part)
            elif kind == "document":
                for part in document_parts(item, parts):
                    text = part.get("text")
                    if isinstance(text, str):
                        texts.append(text)
                    else:
                        media.append(part)
            else:
                texts.append(plain_text(item))
    return call_id, "\n\n".join(t for t in texts if t), media


def walk_messages(
    body: dict[str, Any],
    system: Callable[[Any], None],
    assistant: Callable[[Any], None],
    user: Callable[[Any], None],
) -> None:
    """Each message's content to the handler of its role (system/developer, assistant, any
    other: user); messages that are not objects with a string role are skipped."""
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if not isinstance(role, str):
            continue
        content = message.get("content")
        if role in SYSTEM_ROLES:
            system(content)
        elif role == "assistant":
            assistant(content)
        else:
            user(content)


def thinking(body: dict[str, Any]) -> tuple[Any, Any]:
    """(thinking `type`, `budget_tokens`) of a request; (None, None) without thinking."""
    value = body.get("thinking")
    if not isinstance(value, dict):
        return None, None
    return value.get("type"), value.get("budget_tokens")


_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "max": "high"}


def effort(body: dict[str, Any], *, bool_budget: bool = False) -> str | None:
    """An OpenAI reasoning effort for the request's thinking: enabled: "low" < 4096 budget
    tokens <= "medium" < 16384 <= "high" ("medium" without a numeric budget; a bool budget
    counts as 0/1 only with `bool_budget`); adaptive: `output_config.effort`, "max" ->
    "high", default "medium"; else None."""
    kind, budget = thinking(body)
    if kind == "enabled":
        if not isinstance(budget, int | float) or (isinstance(budget, bool) and not bool_budget):
            return "medium"
        return "low" if budget < 4096 else "medium" if budget < 16384 else "high"
    if kind == "adaptive":
        config = body.get("output_config")
        value = config.get("effort") if isinstance(config, dict) else None
        return _EFFORTS.get(value, "medium") if isinstance(value, str) else "medium"
    return None


def openai_tools(
    tools: Any, wrap: Callable[[dict[str, Any]], dict[str, Any]], *, keep_schema: bool = False
) -> list[dict[str, Any]]:
    """Client tools as OpenAI functions: `wrap({name, description?, parameters})` for each.
    Server tools (web_search_..., bash_..., text_editor_...: no input_schema) have no OpenAI
    form and are dropped; a custom tool without an object schema gets an empty one (with
    `keep_schema`, only one without any schema: another value is sent as given)."""
    out: list[dict[str, Any]] = []
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            continue
        schema = tool.get("input_schema")
        if schema is None if keep_schema else not isinstance(schema, dict):
            if tool.get("type") not in (None, "custom"):
                continue
            schema = {"type": "object", "properties": {}}
        function: dict[str, Any] = {"name": tool["name"]}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        function["parameters"] = schema
        out.append(wrap(function))
    return out


def add_openai_tools(
    req: dict[str, Any],
    body: dict[str, Any],
    tools: list[dict[str, Any]],
    named: Callable[[str], dict[str, Any]],
) -> None:
    """`tools`, and the client's tool_choice (auto -> "auto", any -> "required", none ->
    "none", tool -> `named(name)`; disable_parallel_tool_use -> `parallel_tool_calls:
    false`), into an OpenAI-style request; nothing without tools."""
    if not tools:
        return
    req["tools"] = tools
    choice = body.get("tool_choice")
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    mapped: str | dict[str, Any] | None = None
    if kind == "auto":
        mapped = "auto"
    elif kind == "any":
        mapped = "required"
    elif kind == "none":
        mapped = "none"
    elif kind == "tool" and isinstance(choice.get("name"), str):
        mapped = named(choice["name"])
    if mapped is not None:
        req["tool_choice"] = mapped
    if choice.get("disable_parallel_tool_use") is True and mapped != "none":
        req["parallel_tool_calls"] = False


class OpenAITurns:
    """The message list (Chat Completions) or input item list (Responses) of an OpenAI-style
    request, with tool outputs placed directly after the assistant turn that made the calls
    (before the next turn's own parts and any system message between the two turns). A call
    left without a result gets a synthetic error output and a result whose call is not in
    the previous assistant turn is sent as user text: OpenAI-style APIs reject both.
    Tool-result images go into the next user message after a label naming the call.

    Subclasses say how a tool output and a user message look, and build assistant turns
    (calling `_expect` with the ids of their calls).
    """

    __slots__ = ("anchor", "expected", "out")
    parts: ClassVar[Parts]
    keep_empty: ClassVar[bool] = False  # whether empty user text is sent

    def __init__(self) -> None:
        self.out: list[dict[str, Any]] = []
        self.expected: dict[str, bool] = {}  # call ids of the last assistant turn -> answered
        self.anchor = 0  # where the next tool output goes

    def _output(self, call_id: str, content: str) -> dict[str, Any]:
        raise NotImplementedError

    def _user_message(self, parts: list[dict[str, Any]]) -> dict[str, Any]:
        raise NotImplementedError

    def close_calls(self) -> None:
        """Give every unanswered call of the last assistant turn a synthetic output."""
        for call_id, answered in self.expected.items():
            if not answered:
                self._insert_output(call_id, NO_RESULT)
        self.expected = {}

    def _insert_output(self, call_id: str, content: str) -> None:
        self.out.insert(self.anchor, self._output(call_id, content))
        self.anchor += 1

    def _expect(self, call_ids: list[str]) -> None:
        """The calls of the assistant turn just added: their outputs go right after it."""
        self.expected = dict.fromkeys(call_ids, False)
        self.anchor = len(self.out)

    def user(self, content: Any) -> None:
        if isinstance(content, str):
            self.close_calls()
            if content or self.keep_empty:
                self.out.append(self._user_message([self.parts.text(content)]))
            return
        images: list[dict[str, Any]] = []

        def tool_result(block: dict[str, Any], parts: list[dict[str, Any]]) -> None:
            self._tool_result(block, parts, images)

        parts = user_parts(content, self.parts, tool_result, keep_empty=self.keep_empty)
        self.close_calls()
        parts = images + parts
        if parts:
            self.out.append(self._user_message(parts))

    def _tool_result(
        self, block: dict[str, Any], parts: list[dict[str, Any]], images: list[dict[str, Any]]
    ) -> None:
        call_id, text, own_images = tool_result_content(block, self.parts)
        call_id = to_upstream_id(call_id)  # the id the upstream minted (ccm.dialects.roundtrip)
        if block.get("is_error") is True:
            text = f"Error: {text}" if text else "Error"
        elif not text and own_images:
            text = "(the result is the attached image)"
        if self.expected.get(call_id) is False:
            self.expected[call_id] = True
            self._insert_output(call_id, text)
        else:  # no matching call just before: the API would reject an orphan output
            parts.append(self.parts.text(f"[tool result {call_id}]\n{text}"))
        if own_images:
            images.append(self.parts.text(f"[images from tool result {call_id}]"))
            images.extend(own_images)


# --------------------------------------------------------------------------- response


def tool_input(arguments: str | dict[str, Any] | None) -> dict[str, Any]:
    """A tool call's arguments (JSON text, or an object) as Anthropic `input`. Broken JSON
    (a missing brace, a stray comma) is repaired with json-repair when that gives an object;
    otherwise the text goes as `{"_raw_arguments": text}`, so the tool refuses it and the
    model sees what it wrote instead of a tool run with nothing."""
    if isinstance(arguments, dict):
        return arguments
    if not arguments or not arguments.strip():
        return {}
    try:
        value = json_decoder.decode(arguments)
    except msgspec.DecodeError:
        value = _repaired(arguments)
    return value if isinstance(value, dict) else {RAW_ARGUMENTS: arguments}


def _repaired(text: str) -> Any:
    import json_repair  # only for broken arguments: ~1 MB of RSS most processes never need

    try:
        return json_repair.loads(text)
    except Exception:  # the library's own failure: treat as not repairable
        return None


def tool_arguments_json(arguments: str | dict[str, Any] | None) -> str:
    """Tool arguments as the JSON text of an object (`tool_input`, encoded)."""
    if isinstance(arguments, str):
        try:
            if isinstance(json_decoder.decode(arguments), dict):
                return arguments  # valid already: as the model wrote it
        except msgspec.DecodeError:
            pass
    return encode(tool_input(arguments)).decode()


def arguments_text(arguments: str | dict[str, Any] | None) -> str:
    """A tool call's arguments as JSON text (some servers send an object)."""
    if isinstance(arguments, dict):
        return encode(arguments).decode()
    return arguments or ""


def usage(
    prompt_tokens: float | None = None,
    output_tokens: float | None = None,
    cached: int | None = None,
) -> dict[str, int]:
    """Anthropic `usage` from an upstream's counts (its prompt count includes cached tokens)."""
    cached = cached or 0
    return {
        "input_tokens": max(int(prompt_tokens or 0) - cached, 0),
        "output_tokens": int(output_tokens or 0),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def message(
    model: str,
    content: list[dict[str, Any]],
    stop_reason: str | None,
    stop_sequence: str | None,
    usage: dict[str, int],
) -> dict[str, Any]:
    """An Anthropic `message` object with a new id."""
    return {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage,
    }


# --------------------------------------------------------------------------- stream


class _TextDelta(msgspec.Struct, tag="text_delta"):
    text: str


class _ThinkingDelta(msgspec.Struct, tag="thinking_delta"):
    thinking: str


class _SignatureDelta(msgspec.Struct, tag="signature_delta"):
    signature: str


class _InputJsonDelta(msgspec.Struct, tag="input_json_delta"):
    partial_json: str


class _BlockDelta(msgspec.Struct, tag="content_block_delta"):
    index: int
    delta: _TextDelta | _ThinkingDelta | _SignatureDelta | _InputJsonDelta


_DELTAS = {
    "text": _TextDelta,
    "thinking": _ThinkingDelta,
    "signature": _SignatureDelta,
    "tool": _InputJsonDelta,
}
_PING = encode_event("ping", b'{"type":"ping"}')
_MESSAGE_STOP = encode_event("message_stop", b'{"type":"message_stop"}')


class AnthropicStream:
    """The Anthropic SSE side of a StreamTranslator: message_start (+ ping), content blocks
    numbered in order, message_delta and message_stop. Subclasses read the upstream: `event`
    takes one upstream SSE event's data (and name), `end` the end of the upstream's stream.

    `feed(bytes)` / `finish()` are the Translator interface (the upstream's SSE framing is
    done here). `started` tells whether message_start has gone out (after that, failures
    must be sent as SSE error events), `done` whether message_stop has; `usage` is what the
    upstream said so far; `_chars` counts the characters streamed, for an output estimate
    when the upstream reports no usage.
    """

    def __init__(self, requested_model: str, input_tokens_estimate: int = 0) -> None:
        self.requested_model = requested_model
        self.started = False
        self.done = False
        self.usage = Usage()
        self._estimate = input_tokens_estimate
        self._next_index = 0
        self._chars = 0
        self._finished = False
        self._sse = SSEDecoder()

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for ev in self._sse.feed(data):
            if ev.data:
                out.extend(self.event(ev.data, ev.event))
        return out

    def finish(self) -> list[bytes]:
        out: list[bytes] = []
        for ev in self._sse.flush():
            if ev.data:
                out.extend(self.event(ev.data, ev.event))
        out.extend(self.end())
        return out

    def event(self, data: str, name: str = "") -> list[bytes]:
        raise NotImplementedError

    def end(self) -> list[bytes]:
        raise NotImplementedError

    def _payload(self, data: str) -> str:
        """An upstream payload to read: stripped; "" when empty or after the end."""
        return "" if self._finished else data.strip()

    def _message_start(
        self, out: list[bytes], prompt_tokens: float | None, cached: int | None
    ) -> None:
        """message_start and a ping; input tokens from the upstream's prompt count when it
        gave one (cached tokens not included), else the caller's estimate."""
        self.started = True
        if prompt_tokens is not None:
            input_tokens = max(int(prompt_tokens) - (cached or 0), 0)
        else:
            input_tokens = self._estimate
        start_usage = {
            "input_tokens": input_tokens,
            "output_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": cached or 0,
        }
        self.usage = Usage(input_tokens, 0, 0, cached or 0)
        msg = message(self.requested_model, [], None, None, start_usage)
        out.append(encode_event("message_start", encode({"type": "message_start", "message": msg})))
        out.append(_PING)

    def _block_start(self, out: list[bytes], kind: str, tool_id: str = "", name: str = "") -> int:
        """Open the next block ("text", "thinking" or "tool"); returns its index."""
        index = self._next_index
        self._next_index += 1
        if kind == "thinking":
            block: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
        elif kind == "tool":
            block = {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
        else:
            block = {"type": "text", "text": ""}
        event = {"type": "content_block_start", "index": index, "content_block": block}
        out.append(encode_event("content_block_start", encode(event)))
        return index

    def _block_delta(self, out: list[bytes], index: int, kind: str, text: str) -> None:
        """A delta of kind "text", "thinking", "signature" or "tool" (input JSON)."""
        event = _BlockDelta(index, _DELTAS[kind](text))
        out.append(encode_event("content_block_delta", encode(event)))

    def _block_stop(self, out: list[bytes], index: int) -> None:
        event = {"type": "content_block_stop", "index": index}
        out.append(encode_event("content_block_stop", encode(event)))

    def _whole_blocks(self, out: list[bytes], blocks: list[dict[str, Any]]) -> None:
        """Finished blocks (a search's server_tool_use and web_search_tool_result), as
        Anthropic streams them: server_tool_use's input through an input_json_delta, a
        result block whole."""
        for block in blocks:
            index = self._next_index
            self._next_index += 1
            first = {**block, "input": {}} if block.get("type") == "server_tool_use" else block
            event = {"type": "content_block_start", "index": index, "content_block": first}
            out.append(encode_event("content_block_start", encode(event)))
            if first is not block:
                self._block_delta(out, index, "tool", encode(block.get("input") or {}).decode())
            self._block_stop(out, index)

    def _message_end(
        self,
        out: list[bytes],
        stop_reason: str,
        stop_sequence: str | None,
        prompt_tokens: float | None,
        cached: int | None,
        output_tokens: float | None,
    ) -> None:
        """message_delta (usage: what the upstream said; output estimated as characters / 4
        when it said nothing) and message_stop."""
        end_usage: dict[str, int] = {}
        if prompt_tokens is not None:
            end_usage["input_tokens"] = max(int(prompt_tokens) - (cached or 0), 0)
            if cached is not None:
                end_usage["cache_read_input_tokens"] = cached
        if output_tokens is not None:
            end_usage["output_tokens"] = int(output_tokens)
        else:
            end_usage["output_tokens"] = (self._chars + 3) // 4
        event = {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
            "usage": end_usage,
        }
        out.append(encode_event("message_delta", encode(event)))
        out.append(_MESSAGE_STOP)
        self.usage = msgspec.structs.replace(self.usage, **end_usage)
        self.done = True


def collect(events: bytes) -> dict[str, Any]:
    """The Anthropic message that a whole Anthropic SSE stream (ccm's own output) makes."""
    decoder = SSEDecoder()
    message: dict[str, Any] = {}
    blocks: list[dict[str, Any]] = []
    json_parts: list[str] = []
    for ev in decoder.feed(events) + decoder.flush():
        data = json_decoder.decode(ev.data)
        kind = data["type"]
        if kind == "message_start":
            message = data["message"]
        elif kind == "content_block_start":
            blocks.append(data["content_block"])
            json_parts = []
        elif kind == "content_block_delta":
            delta, block = data["delta"], blocks[-1]
            kind = delta["type"]
            if kind == "text_delta":
                block["text"] += delta["text"]
            elif kind == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif kind == "signature_delta":
                block["signature"] += delta["signature"]
            else:
                json_parts.append(delta["partial_json"])
        elif kind == "content_block_stop":
            block = blocks[-1]
            if block["type"] == "tool_use":
                block["input"] = tool_input("".join(json_parts))
        elif kind == "message_delta":
            message.update(data["delta"])
            message["usage"] = {**message["usage"], **data["usage"]}
    message["content"] = blocks
    return message


# --------------------------------------------------------------------------- provider limits

# OpenAI's reasoning models: o1, o3-mini, o4-mini, gpt-5, gpt-5.1-codex, codex-mini-latest ...
# but not gpt-5-chat-latest (not a reasoner)
_REASONING_MODEL = re.compile(r"^(o[1-9]|gpt-5|codex)(?!.*-chat)", re.IGNORECASE)
NO_IMAGE = "[image omitted: this model takes no images]"


def is_reasoning_model(model: str) -> bool:
    return bool(_REASONING_MODEL.match(model.rsplit("/", 1)[-1]))


def stop_sequences(body: dict[str, Any], limit: int | None) -> list[str]:
    """The request's stop sequences, at most `limit` of them (the provider refuses more)."""
    stops = body.get("stop_sequences")
    if not isinstance(stops, list):
        return []
    kept = [s for s in stops if isinstance(s, str) and s]
    return kept[:limit] if limit is not None else kept


def max_tokens(body: dict[str, Any], cap: int | None) -> int | None:
    """The request's max_tokens, lowered to the provider's documented maximum."""
    value = body.get("max_tokens")
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return min(value, cap) if cap is not None else value


def no_image_parts(parts: Parts) -> Parts:
    """The same builders, with images as a short note (for models that take none)."""
    return Parts(parts.text, lambda _source: parts.text(NO_IMAGE), parts.file)


_SCHEMA_NOISE = ("$schema", "$id", "$comment", "examples")


def lean_schema(schema: Any) -> Any:
    """A JSON Schema without the annotation keywords some providers refuse ($schema, $id,
    $comment, examples); property names are never touched."""
    if isinstance(schema, list):
        return [lean_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SCHEMA_NOISE:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: lean_schema(sub) for name, sub in value.items()}
        else:
            out[key] = lean_schema(value)
    return out
