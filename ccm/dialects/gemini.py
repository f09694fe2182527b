"""Anthropic Messages <-> Google Gemini generateContent: request, response and stream
translation (the Gemini API `.../v1beta/models/{m}:generateContent` and Vertex AI
`.../publishers/google/models/{m}:generateContent` take the same body).

Public interface:
    GEMINI, VERTEX, CODE_ASSIST                                  the dialect and its variants
    request_to_gemini(body, actual_model, *, stream, quirks) -> dict   (camelCase JSON body)
    response_from_gemini(raw, requested_model) -> dict           (Anthropic message)
    StreamTranslator(requested_model, input_tokens_estimate=0): .feed(bytes) .finish()
    TranslationError
    clean_schema(json_schema) -> dict   (a Gemini Schema object; ccm.dialects.gemini_schema)
    SKIP_SIGNATURE                                               (see tool_use below)

Decisions worth knowing (claude-code-mux got most of these wrong, see the behaviour
reference §6.7):

Request
- `systemInstruction.parts`: one text part per `system` block (or the string), then one per
  `system`/`developer`-role message, in order. Gemini has no mid-conversation system turn.
- `contents` alternate `user` / `model` (consecutive turns of one role are merged). Parts:
  text; base64 image -> `inlineData`; image URL -> `fileData {fileUri, mimeType}` (mime type
  guessed from the URL); documents: base64 -> `inlineData` (PDF by default), URL -> `fileData`,
  text/content sources -> text. Files API `file_id` sources have no Gemini form: dropped.
  Empty text is never sent (Gemini rejects empty text parts).
- tool_use -> `functionCall {name, args}` with the `thoughtSignature` Gemini gave that call
  (carried in a thinking block signed `ccm1.gemini.*`, see Response). A model turn that
  never came from Gemini (no such block) has its first call carry
  `thoughtSignature: "skip_thought_signature_validator"`, Google's documented value for calls
  whose real signature is not at hand: Gemini 3 rejects replayed calls without one. A
  signature Gemini put on a part that is not a call goes back on the turn's first text part.
- tool_result -> `functionResponse {name, response: {content}}` (`{error}` when is_error),
  the name found through the tool_use id of the model turn just before. All responses to a
  model turn go first in the `user` turn right after it, in call order; a call left without a
  result gets a synthetic error response (Gemini wants one response per call). A result whose
  call is not in the previous model turn is sent as user text. Images inside a result follow
  the responses as `inlineData` parts, after a label naming the call.
- thinking / redacted_thinking blocks of earlier turns are dropped (their text is not sent;
  only Gemini's own signatures go back, on their parts).
- tools -> one `tools[0].functionDeclarations` list. `parameters` is cleaned to the OpenAPI
  subset Gemini accepts: only its Schema keywords are kept (never touching property names),
  `$ref` is inlined from `$defs`/`definitions` (a cycle becomes a plain object), `allOf` is
  merged, `oneOf` becomes `anyOf`, `type: [..., "null"]` and null branches become
  `nullable`, `const` becomes `enum: [const]`, enum values become strings (a non-string
  enum is dropped and listed in the description), string formats other than enum/date-time
  are dropped, `properties`/`required` survive only on objects (`required` only names that
  exist), an array without `items` gets string items, and a union of string enums/consts
  becomes one enum. A tool without parameters has no `parameters` (Gemini has rejected an
  object with no properties), except under tool_choice any/tool, where Gemini rejects a
  declaration without `parameters` and `{"type": "object", "properties": {}}` is sent.
- web_search server tools -> `{googleSearch: {}}`, but only when there are no function
  declarations (Gemini refuses to mix them); other server tools are skipped.
- tool_choice auto/any/tool/none -> `toolConfig.functionCallingConfig.mode` AUTO / ANY (+
  `allowedFunctionNames` for `tool`) / NONE, only with function declarations.
- generationConfig: maxOutputTokens, temperature, topP, topK (only those given),
  stopSequences (at most the quirk's limit: 5, Gemini's). thinking enabled -> `thinkingConfig
  {includeThoughts: true, thinkingBudget: budget_tokens}`; adaptive -> budget -1 (dynamic).
  `output_config.format` json_schema (Claude Code's title calls) -> `responseMimeType:
  application/json` + cleaned `responseSchema`, when no function is declared (Gemini refuses
  JSON mode with function calling).
- Dropped: metadata, cache_control, context_management, service_tier, output_config.effort.

Response / stream
- First candidate only. Text parts -> text blocks; `thought: true` parts -> thinking blocks;
  functionCall -> tool_use with a new "toolu_..." id. Adjacent parts of one kind share a
  block. Every thoughtSignature is kept in a thinking block's signature
  (`ccm1.gemini.<payload>`, the payload pairing each signature with its tool_use id, or ""
  for a part that is not a call): the thinking block just before, or an empty thinking block
  made for it.
- finishReason STOP -> end_turn, MAX_TOKENS -> max_tokens, SAFETY / RECITATION / BLOCKLIST /
  PROHIBITED_CONTENT / SPII / IMAGE_SAFETY ... -> refusal, others -> end_turn; any function
  call makes it tool_use unless the turn hit max_tokens or a refusal. A candidate with no
  content and no normal finish (STOP / MAX_TOKENS) is a refusal with empty content.
- promptFeedback.blockReason with no candidates: a refusal whose text names the reason.
- usage: input_tokens = promptTokenCount (+ toolUsePromptTokenCount) - cachedContentTokenCount,
  cache_read_input_tokens = cachedContentTokenCount, output_tokens = candidatesTokenCount +
  thoughtsTokenCount. Streams take the last chunk's usageMetadata; with none, output tokens
  are estimated as characters / 4 and input tokens are the caller's estimate.
- Streams: Gemini sends whole parts per chunk (text pieces, complete function calls), so
  blocks never interleave: a function call is one tool_use block with a single
  input_json_delta of its args. A stream that ends without a finishReason (or a block
  reason) raises TranslationError from finish(); an `error` chunk or a payload that is not
  a JSON object raises from feed().
"""

from __future__ import annotations

import mimetypes
import uuid
from typing import Any
from urllib.parse import urlsplit

import msgspec

from ccm.dialects import common, roundtrip
from ccm.dialects import quirks as q
from ccm.dialects.base import Call, Credential, Job, Target, Verdict, classify, json_call
from ccm.dialects.gemini_schema import clean_schema
from ccm.wire.common import error_message
from ccm.wire.gemini import (
    Candidate,
    GenerateContentResponse,
    Part,
    StreamChunk,
    UsageMetadata,
)

__all__ = [
    "SKIP_SIGNATURE",
    "StreamTranslator",
    "TranslationError",
    "clean_schema",
    "request_to_gemini",
    "response_from_gemini",
]


class TranslationError(common.TranslationError):
    """A Gemini upstream said something that has no Anthropic form."""


_response_decoder = msgspec.json.Decoder(GenerateContentResponse)
_chunk_decoder = msgspec.json.Decoder(StreamChunk)

_NO_RESULT = "no result was given for this tool call"
SKIP_SIGNATURE = "skip_thought_signature_validator"
NAME = "gemini"  # the signature prefix of this dialect's reasoning


def _signature_pairs(payload: Any) -> dict[str, str]:
    """{tool_use id or "": thoughtSignature} from a ccm1.gemini payload."""
    pairs = payload.get("s") if isinstance(payload, dict) else None
    out: dict[str, str] = {}
    for pair in pairs if isinstance(pairs, list) else ():
        if isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair):
            out.setdefault(pair[0], pair[1])
    return out


def _sign(pairs: list[list[str]]) -> str:
    return roundtrip.sign(NAME, {"s": pairs} if pairs else {})


# --------------------------------------------------------------------------- request


def _guess_mime(url: str, default: str) -> str:
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed or default


def _media_part(source: Any, inline_default: str, url_default: str) -> dict[str, Any] | None:
    """A base64 source as `inlineData`, a URL as `fileData` (mime type guessed from it)."""
    if not isinstance(source, dict):
        return None
    data = common.base64_data(source)
    if data is not None:
        media = source.get("media_type") if isinstance(source.get("media_type"), str) else None
        return {"inlineData": {"mimeType": media or inline_default, "data": data}}
    url = common.source_url(source)
    if url is not None:
        return {"fileData": {"mimeType": _guess_mime(url, url_default), "fileUri": url}}
    return None  # e.g. a Files API file_id: nothing Gemini could fetch


def _text_part(text: str) -> dict[str, Any]:
    return {"text": text}


def _image_part(source: Any) -> dict[str, Any] | None:
    return _media_part(source, "image/png", "image/jpeg")


def _file_part(source: dict[str, Any], title: str | None) -> dict[str, Any] | None:
    return _media_part(source, "application/pdf", "application/pdf")  # (no title in Gemini)


_PARTS = common.Parts(_text_part, _image_part, _file_part)


class _Contents:
    """Builds `contents` and `systemInstruction`, keeping function responses next to calls."""

    __slots__ = ("calls", "contents", "system")

    def __init__(self) -> None:
        self.contents: list[dict[str, Any]] = []
        self.system: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str]] = []  # (tool_use id, name) of the last model turn

    def add_system(self, content: Any) -> None:
        items = content if isinstance(content, list) else [content]
        for item in items:
            text = common.plain_text(item)
            if text:
                self.system.append({"text": text})

    def _append(self, role: str, parts: list[dict[str, Any]]) -> None:
        if not parts:
            return
        if self.contents and self.contents[-1]["role"] == role:
            self.contents[-1]["parts"].extend(parts)
        else:
            self.contents.append({"role": role, "parts": parts})

    def close_calls(self) -> None:
        """Answer every call of the last model turn that got no result (Gemini wants one
        response per call in the very next turn)."""
        if self.calls:
            parts = [_function_response(name, _NO_RESULT, True) for _, name in self.calls]
            self.calls = []
            self._append("user", parts)

    def model(self, content: Any) -> None:
        self.close_calls()
        parts: list[dict[str, Any]] = []
        calls: list[tuple[str, str]] = []
        blocks = content if isinstance(content, list) else [content]
        signatures: dict[str, str] = {}  # tool_use id (or "" for another part) -> signature
        from_gemini = False
        for block in blocks:
            own = roundtrip.own_thinking(block, NAME)
            if own is not None:
                from_gemini = True
                signatures.update(_signature_pairs(own[1]))
        for block in blocks:
            if isinstance(block, str):
                if block:
                    parts.append({"text": block})
                continue
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "tool_use":
                name = block.get("name") if isinstance(block.get("name"), str) else ""
                call_id = block.get("id") if isinstance(block.get("id"), str) else ""
                args = block.get("input") if isinstance(block.get("input"), dict) else {}
                part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
                signature = signatures.get(call_id)
                if signature is not None:
                    part["thoughtSignature"] = signature
                elif not calls and not from_gemini:
                    part["thoughtSignature"] = SKIP_SIGNATURE
                parts.append(part)
                calls.append((call_id or common.new_id("toolu_"), name))
            elif kind not in common.SKIP_BLOCKS:
                text = common.plain_text(block)
                if text:
                    parts.append({"text": text})
        other = signatures.get("")
        if other is not None:
            first = next((p for p in parts if "text" in p), None)
            first = first or next((p for p in parts if "thoughtSignature" not in p), None)
            if first is not None:
                first["thoughtSignature"] = other
        self._append("model", parts)
        self.calls = calls

    def user(self, content: Any) -> None:
        if isinstance(content, str):
            self.close_calls()
            if content:
                self._append("user", [{"text": content}])
            return
        answers: dict[str, dict[str, Any]] = {}  # call id -> functionResponse part
        result_media: list[dict[str, Any]] = []

        def tool_result(block: dict[str, Any], parts: list[dict[str, Any]]) -> None:
            self._tool_result(block, answers, parts, result_media)

        parts = common.user_parts(content, _PARTS, tool_result)
        responses: list[dict[str, Any]] = []
        if self.calls:
            for call_id, name in self.calls:
                responses.append(answers.get(call_id) or _function_response(name, _NO_RESULT, True))
            self.calls = []
        self._append("user", responses + result_media + parts)

    def _tool_result(
        self,
        block: dict[str, Any],
        answers: dict[str, dict[str, Any]],
        parts: list[dict[str, Any]],
        media: list[dict[str, Any]],
    ) -> None:
        call_id, text, own_media = common.tool_result_content(block, _PARTS)
        is_error = block.get("is_error") is True
        if not text and own_media and not is_error:
            text = "(the result is the attached media)"
        name = next((n for i, n in self.calls if i == call_id), None)
        if name is not None and call_id not in answers:
            answers[call_id] = _function_response(name, text, is_error)
        else:  # no matching call just before: Gemini would reject a functionResponse here
            label = "tool error" if is_error else "tool result"
            parts.append({"text": f"[{label} {call_id}]\n{text}"})
        if own_media:
            media.append({"text": f"[media from tool result {call_id}]"})
            media.extend(own_media)


def _function_response(name: str, text: str, is_error: bool) -> dict[str, Any]:
    response = {"error": text} if is_error else {"content": text}
    return {"functionResponse": {"name": name, "response": response}}


def _parameters(schema: Any) -> dict[str, Any] | None:
    """A tool's `parameters`: an object schema with properties, or None (no parameters)."""
    cleaned = clean_schema(schema)
    if not cleaned.get("properties"):
        return None
    cleaned["type"] = "object"
    cleaned.pop("anyOf", None)
    cleaned.pop("nullable", None)
    return cleaned


def _tools(tools: Any) -> tuple[list[dict[str, Any]], bool]:
    """(function declarations, whether a web search server tool was asked for)."""
    declarations: list[dict[str, Any]] = []
    search = False
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict):
            continue
        kind = tool.get("type")
        if isinstance(kind, str) and kind.startswith("web_search"):
            search = True
            continue
        if not isinstance(tool.get("name"), str):
            continue
        schema = tool.get("input_schema")
        if schema is None and kind not in (None, "custom"):
            continue  # other server tools (bash_..., text_editor_..., code_execution_...)
        declaration: dict[str, Any] = {"name": tool["name"]}
        if isinstance(tool.get("description"), str):
            declaration["description"] = tool["description"]
        parameters = _parameters(schema)
        if parameters is not None:
            declaration["parameters"] = parameters
        declarations.append(declaration)
    return declarations, search


def _tool_config(choice: Any, names: set[str]) -> dict[str, Any] | None:
    if not isinstance(choice, dict):
        return None
    kind = choice.get("type")
    if kind == "auto":
        config: dict[str, Any] = {"mode": "AUTO"}
    elif kind == "any":
        config = {"mode": "ANY"}
    elif kind == "none":
        config = {"mode": "NONE"}
    elif kind == "tool" and isinstance(choice.get("name"), str):
        config = {"mode": "ANY"}
        if choice["name"] in names:
            config["allowedFunctionNames"] = [choice["name"]]
    else:
        return None
    return {"functionCallingConfig": config}


def _thinking_config(body: dict[str, Any]) -> dict[str, Any] | None:
    kind, budget = common.thinking(body)
    if kind == "enabled" and isinstance(budget, int | float) and not isinstance(budget, bool):
        return {"includeThoughts": True, "thinkingBudget": int(budget)}
    if kind in ("enabled", "adaptive"):
        return {"includeThoughts": True, "thinkingBudget": -1}  # -1: dynamic
    return None


def request_to_gemini(
    body: dict[str, Any], actual_model: str, *, stream: bool, quirks: q.Quirks = q.GEMINI
) -> dict[str, Any]:
    """An Anthropic Messages request (decoded JSON) as a Gemini generateContent body.

    The model and the stream/non-stream choice are in the URL, not the body, so
    `actual_model` and `stream` change nothing here today; they keep the interface of the
    other dialects. Malformed parts are skipped, never fatal.
    """
    del actual_model, stream
    conv = _Contents()
    conv.add_system(body.get("system"))
    common.walk_messages(body, conv.add_system, conv.model, conv.user)

    req: dict[str, Any] = {"contents": conv.contents}
    if conv.system:
        req["systemInstruction"] = {"parts": conv.system}

    declarations, search = _tools(body.get("tools"))
    if declarations:
        req["tools"] = [{"functionDeclarations": declarations}]
        config = _tool_config(body.get("tool_choice"), {d["name"] for d in declarations})
        if config is not None:
            req["toolConfig"] = config
            if config["functionCallingConfig"]["mode"] == "ANY":
                # mode ANY refuses a declaration without parameters; an empty object it takes
                for declaration in declarations:
                    declaration.setdefault("parameters", {"type": "object", "properties": {}})
    elif search and quirks.web_search == "gemini":
        req["tools"] = [{"googleSearch": {}}]

    generation: dict[str, Any] = {}
    max_tokens = common.max_tokens(body, quirks.max_output_tokens)
    if max_tokens is not None:
        generation["maxOutputTokens"] = max_tokens
    for src, dst in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK")):
        value = body.get(src)
        if isinstance(value, int | float) and not isinstance(value, bool):
            generation[dst] = value
    stops = common.stop_sequences(body, quirks.max_stop_sequences)
    if stops:
        generation["stopSequences"] = stops
    thinking_config = _thinking_config(body)
    if thinking_config is not None:
        generation["thinkingConfig"] = thinking_config
    output = body.get("output_config")
    fmt = output.get("format") if isinstance(output, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and not declarations:
        generation["responseMimeType"] = "application/json"
        schema = clean_schema(fmt.get("schema"))
        if schema:
            generation["responseSchema"] = schema
    if generation:
        req["generationConfig"] = generation
    return req


# --------------------------------------------------------------------------- response


_FINISH = {
    "STOP": "end_turn",
    "MAX_TOKENS": "max_tokens",
    "SAFETY": "refusal",
    "RECITATION": "refusal",
    "BLOCKLIST": "refusal",
    "PROHIBITED_CONTENT": "refusal",
    "SPII": "refusal",
    "IMAGE_SAFETY": "refusal",
    "IMAGE_PROHIBITED_CONTENT": "refusal",
    "IMAGE_RECITATION": "refusal",
}
_NORMAL_FINISH = frozenset({"STOP", "MAX_TOKENS"})


def _stop_reason(finish: str | None, has_tools: bool, refused: bool) -> str:
    reason = _FINISH.get(finish or "", "end_turn")
    if refused:
        return "refusal"
    if reason in ("max_tokens", "refusal"):
        return reason
    return "tool_use" if has_tools else "end_turn"


def _int(value: float | None) -> int:
    return int(value or 0)


def _prompt_usage(u: UsageMetadata | None) -> tuple[int | None, int | None]:
    """(prompt tokens, cached tokens) of a stream's usage; (None, None) with no prompt count."""
    if u is None or u.prompt_token_count is None:
        return None, None
    prompt = _int(u.prompt_token_count) + _int(u.tool_use_prompt_token_count)
    return prompt, _int(u.cached_content_token_count)


def _output_usage(u: UsageMetadata) -> int:
    return _int(u.candidates_token_count) + _int(u.thoughts_token_count)


def _usage(u: UsageMetadata | None) -> dict[str, int]:
    if u is None:
        u = UsageMetadata()
    prompt = _int(u.prompt_token_count) + _int(u.tool_use_prompt_token_count)
    return common.usage(prompt, _output_usage(u), _int(u.cached_content_token_count))


def _first_candidate(resp: GenerateContentResponse) -> Candidate | None:
    candidates = resp.candidates or []
    return next((c for c in candidates if not c.index), None)  # n > 1: only the first is ours


def _blocked_text(reason: str, message: str | None) -> str:
    text = f"The request was blocked by Gemini (blockReason: {reason})."
    return f"{text} {message}" if message else text


def _args(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _parts(candidate: Candidate | None) -> list[Part]:
    if candidate is None or candidate.content is None:
        return []
    return [p for p in candidate.content.parts or () if p is not None]


def response_from_gemini(raw: bytes, requested_model: str) -> dict[str, Any]:
    """A Gemini generateContent response body as an Anthropic `message` dict."""
    resp = common.decode_body(_response_decoder, raw, TranslationError, "a Gemini response")
    if resp.error is not None:
        raise TranslationError(f"upstream error: {error_message(resp.error)}")
    candidate = _first_candidate(resp)
    content: list[dict[str, Any]] = []
    refused = False
    feedback = resp.prompt_feedback
    if candidate is None:
        if feedback is None or not feedback.block_reason:
            raise TranslationError("upstream response has no candidates")
        refused = True
        text = _blocked_text(feedback.block_reason, feedback.block_reason_message)
        content.append({"type": "text", "text": text})
    has_tools = False
    signed: list[list[list[str]]] = []  # each thinking block's signature pairs, in order
    for part in _parts(candidate):
        last = content[-1] if content else None
        sig = part.thought_signature
        if part.function_call is not None:
            has_tools = True
            call = part.function_call
            tool_id = common.new_id("toolu_")
            if sig:
                if last is None or last["type"] != "thinking":
                    last = {"type": "thinking", "thinking": "", "signature": ""}
                    content.append(last)
                    signed.append([])
                signed[-1].append([tool_id, sig])
            content.append(
                {
                    "type": "tool_use",
                    "id": tool_id,
                    "name": call.name or "",
                    "input": _args(call.args),
                }
            )
        elif part.thought or (sig and not part.text):
            if not part.text and not sig:
                continue
            if last is None or last["type"] != "thinking":
                last = {"type": "thinking", "thinking": "", "signature": ""}
                content.append(last)
                signed.append([])
            last["thinking"] += part.text or ""
            if sig:
                signed[-1].append(["", sig])
        elif part.text:
            if sig:  # a signature on an answer part: kept in a thinking block before it
                if last is None or last["type"] != "thinking":
                    content.append({"type": "thinking", "thinking": "", "signature": ""})
                    signed.append([])
                signed[-1].append(["", sig])
                last = content[-1]
            if last is not None and last["type"] == "text":
                last["text"] += part.text
            else:
                content.append({"type": "text", "text": part.text})
    thinking = (b for b in content if b["type"] == "thinking")
    for block, pairs in zip(thinking, signed, strict=True):
        block["signature"] = _sign(pairs)
    finish = candidate.finish_reason if candidate is not None else None
    if candidate is not None and not content and finish not in _NORMAL_FINISH:
        refused = True  # e.g. blocked: a candidate with no content at all
    stop_reason = _stop_reason(finish, has_tools, refused)
    return common.message(requested_model, content, stop_reason, None, _usage(resp.usage_metadata))


# --------------------------------------------------------------------------- stream


class StreamTranslator(common.AnthropicStream):
    """Gemini `streamGenerateContent?alt=sse` chunks in, Anthropic SSE events out.

    `feed` takes the upstream's bytes (`event` one `data:` payload) and `finish` the
    upstream's end (Gemini sends no terminator: the last chunk carries the finishReason).
    Both return encoded SSE events. `wrapped`: Code Assist chunks, `{"response": {...}}`.
    """

    def __init__(
        self, requested_model: str, input_tokens_estimate: int = 0, *, wrapped: bool = False
    ) -> None:
        super().__init__(requested_model, input_tokens_estimate)
        self._wrapped = wrapped
        self._live: str | None = None  # "text" or "thinking" while such a block is open
        self._live_index = -1
        self._signatures: list[list[str]] = []  # of the open thinking block
        self._has_tools = False
        self._finish_reason: str | None = None
        self._ended = False  # a finishReason or a block reason was seen
        self._refused = False
        self._usage: UsageMetadata | None = None

    # -- input

    def event(self, data: str, name: str = "") -> list[bytes]:
        data = self._payload(data)
        if not data:
            return []
        if self._wrapped:
            data = _unwrap(data.encode()).decode()
        chunk = common.decode_chunk(_chunk_decoder, data, TranslationError)
        if chunk.error is not None:
            raise TranslationError(f"upstream error mid-stream: {error_message(chunk.error)}")
        if chunk.usage_metadata is not None:
            self._usage = chunk.usage_metadata
        out: list[bytes] = []
        if not self.started:
            self._start(out)
        candidate = _first_candidate(chunk)
        feedback = chunk.prompt_feedback
        if candidate is None and feedback is not None and feedback.block_reason:
            self._refused = True
            self._ended = True
            self._put(
                "text", _blocked_text(feedback.block_reason, feedback.block_reason_message), out
            )
        for part in _parts(candidate):
            sig = part.thought_signature
            if part.function_call is not None:
                self._tool(part, out)
            elif part.thought or (sig and not part.text):
                if part.text:
                    self._put("thinking", part.text, out)
                if sig:
                    self._sign("", sig, out)
            elif part.text:
                if sig:
                    self._sign("", sig, out)
                self._put("text", part.text, out)
        if candidate is not None and candidate.finish_reason:
            self._finish_reason = candidate.finish_reason
            self._ended = True
        return out

    def end(self) -> list[bytes]:
        if self._finished:
            return []
        if not self._ended:
            raise TranslationError("upstream stream ended early: no finishReason was received")
        out: list[bytes] = []
        if not self.started:
            self._start(out)
        empty = self._next_index == 0
        self._close(out)
        self._finished = True
        refused = self._refused or (empty and self._finish_reason not in _NORMAL_FINISH)
        stop_reason = _stop_reason(self._finish_reason, self._has_tools, refused)
        u = self._usage
        output = None
        if u is not None and (
            u.candidates_token_count is not None or u.thoughts_token_count is not None
        ):
            output = _output_usage(u)
        self._message_end(out, stop_reason, None, *_prompt_usage(u), output)
        return out

    # -- blocks

    def _start(self, out: list[bytes]) -> None:
        self._message_start(out, *_prompt_usage(self._usage))

    def _open(self, kind: str, out: list[bytes]) -> None:
        self._live_index = self._block_start(out, kind)
        self._live = kind

    def _close(self, out: list[bytes]) -> None:
        if self._live is None:
            return
        if self._live == "thinking":
            signature = _sign(self._signatures)
            self._signatures = []
            self._block_delta(out, self._live_index, "signature", signature)
        self._block_stop(out, self._live_index)
        self._live = None

    def _sign(self, key: str, signature: str, out: list[bytes]) -> None:
        """Keep a signature in the open thinking block (or an empty one made for it)."""
        if self._live != "thinking":
            self._close(out)
            self._open("thinking", out)
        self._signatures.append([key, signature])

    def _put(self, kind: str, text: str, out: list[bytes]) -> None:
        self._chars += len(text)
        if self._live != kind:
            self._close(out)
            self._open(kind, out)
        self._block_delta(out, self._live_index, kind, text)

    def _tool(self, part: Part, out: list[bytes]) -> None:
        call = part.function_call
        assert call is not None
        tool_id = common.new_id("toolu_")
        if part.thought_signature:
            self._sign(tool_id, part.thought_signature, out)
        self._close(out)
        self._has_tools = True
        index = self._block_start(out, "tool", tool_id, call.name or "")
        args = common.encode(_args(call.args)).decode()
        self._chars += len(args)
        self._block_delta(out, index, "tool", args)
        self._block_stop(out, index)


# --------------------------------------------------------------------------- the dialect


def _unwrap(raw: bytes) -> bytes:
    """Code Assist wraps each generateContent answer as {"response": {...}}."""
    try:
        data = common.json_decoder.decode(raw)
    except msgspec.DecodeError:
        return raw  # let the Gemini translator report the garbage
    if isinstance(data, dict) and isinstance(data.get("response"), dict):
        return common.encode(data["response"])
    return raw


class GeminiDialect(common.Translated):
    """Gemini generateContent: the Gemini API (`{base}/models/{model}:generateContent`)."""

    name = NAME
    stream_class = StreamTranslator
    to_upstream = staticmethod(request_to_gemini)
    from_upstream = staticmethod(response_from_gemini)

    def base(self, target: Target) -> str:
        return target.base_url

    def url(self, job: Job, target: Target) -> str:
        action = "streamGenerateContent?alt=sse" if job.stream else "generateContent"
        return f"{self.base(target)}/models/{target.model}:{action}"

    def classify(self, status: int, raw: bytes) -> Verdict:
        """Google answers a bad API key with 400: it is the key, so it fails over like 401."""
        if status == 400 and b"API_KEY_INVALID" in raw:
            status = 401
        return classify(status, raw)


class VertexDialect(GeminiDialect):
    """Vertex AI: the same body; the URL names the project and location (unless the config
    gives a base_url)."""

    def base(self, target: Target) -> str:
        c = target.config
        if target.base_url:
            return target.base_url
        loc = c.location or "us-central1"
        host = (
            "aiplatform.googleapis.com" if loc == "global" else f"{loc}-aiplatform.googleapis.com"
        )
        return f"https://{host}/v1/projects/{c.project_id}/locations/{loc}/publishers/google"


class CodeAssistDialect(GeminiDialect):
    """Google sign-in: Gemini through the Code Assist API, whose requests and answers wrap the
    generateContent ones ({model, project, request} / {response}); the model goes in the body."""

    def url(self, job: Job, target: Target) -> str:
        action = "streamGenerateContent?alt=sse" if job.stream else "generateContent"
        return f"{target.base_url}:{action}"

    def build(self, job: Job, target: Target, credential: Credential) -> Call:
        wrapped: dict[str, Any] = {
            "model": target.model,
            "request": self.payload(job, target),
            "user_prompt_id": uuid.uuid4().hex,
        }
        project = target.config.project_id or credential.project
        if project:
            wrapped["project"] = project
        return json_call(self.url(job, target), target, credential, wrapped)

    def message(self, raw: bytes, requested_model: str) -> dict[str, Any]:
        return response_from_gemini(_unwrap(raw), requested_model)

    def translator(self, job: Job) -> StreamTranslator:
        return StreamTranslator(job.requested_model, job.input_tokens(), wrapped=True)


GEMINI = GeminiDialect()
VERTEX = VertexDialect()
CODE_ASSIST = CodeAssistDialect()
