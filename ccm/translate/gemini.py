"""Anthropic Messages <-> Google Gemini generateContent: request, response and stream
translation (the Gemini API `.../v1beta/models/{m}:generateContent` and Vertex AI
`.../publishers/google/models/{m}:generateContent` take the same body).

Public interface:
    request_to_gemini(body, actual_model, *, stream) -> dict     (camelCase JSON body)
    response_from_gemini(raw, requested_model) -> dict           (Anthropic message)
    StreamTranslator(requested_model, input_tokens_estimate=0): .feed(data) .finish() .started
    TranslationError
    clean_schema(json_schema) -> dict                            (a Gemini Schema object)
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
- tool_use -> `functionCall {name, args}`. Each model turn's first function call carries
  `thoughtSignature: "skip_thought_signature_validator"`, Google's documented value for
  calls whose real signature is not at hand: Gemini 3 rejects replayed calls without one.
- tool_result -> `functionResponse {name, response: {content}}` (`{error}` when is_error),
  the name found through the tool_use id of the model turn just before. All responses to a
  model turn go first in the `user` turn right after it, in call order; a call left without a
  result gets a synthetic error response (Gemini wants one response per call). A result whose
  call is not in the previous model turn is sent as user text. Images inside a result follow
  the responses as `inlineData` parts, after a label naming the call.
- thinking / redacted_thinking blocks of earlier turns are dropped.
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
  stopSequences (at most 5, Gemini's limit). thinking enabled -> `thinkingConfig
  {includeThoughts: true, thinkingBudget: budget_tokens}`; adaptive -> budget -1 (dynamic).
  `output_config.format` json_schema (Claude Code's title calls) -> `responseMimeType:
  application/json` + cleaned `responseSchema`, when no function is declared (Gemini refuses
  JSON mode with function calling).
- Dropped: metadata, cache_control, context_management, service_tier, output_config.effort.

Response / stream
- First candidate only. Text parts -> text blocks; `thought: true` parts -> thinking blocks
  (signature: the part's thoughtSignature, else ""); functionCall -> tool_use with a new
  "toolu_..." id. Adjacent parts of one kind share a block.
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
from typing import Any
from urllib.parse import urlsplit

import msgspec

from ccm.translate import common
from ccm.wire.gemini import (
    Candidate,
    GenerateContentResponse,
    Part,
    StreamChunk,
    UsageMetadata,
    error_message,
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
_MAX_STOP_SEQUENCES = 5


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
        for block in content if isinstance(content, list) else [content]:
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
                if not calls:
                    part["thoughtSignature"] = SKIP_SIGNATURE
                parts.append(part)
                calls.append((call_id or common.new_id("toolu_"), name))
            elif kind not in common.SKIP_BLOCKS:
                text = common.plain_text(block)
                if text:
                    parts.append({"text": text})
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


# -- JSON Schema -> Gemini Schema

_SCHEMA_KEYS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})
_FORMATS = {
    "string": frozenset({"enum", "date-time"}),
    "number": frozenset({"float", "double"}),
    "integer": frozenset({"int32", "int64"}),
}
_COUNT_KEYS = {
    "string": ("minLength", "maxLength"),
    "array": ("minItems", "maxItems"),
    "object": ("minProperties", "maxProperties"),
}
_DOC_KEYS = ("description", "title", "default", "example")
_MAX_DEPTH = 32


def _resolve_ref(ref: str, root: dict[str, Any]) -> dict[str, Any] | None:
    """A local `#/...` JSON pointer into the root schema."""
    if not ref.startswith("#"):
        return None
    node: Any = root
    for token in ref[1:].split("/"):
        if not token:
            continue
        token = token.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or token not in node:
            return None
        node = node[token]
    return node if isinstance(node, dict) else None


def _merge_all_of(schema: dict[str, Any], root: dict[str, Any], seen: tuple[str, ...]) -> dict:
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    for sub in schema["allOf"]:
        if not isinstance(sub, dict):
            continue
        ref = sub.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            target = _resolve_ref(ref, root)
            if target is not None:
                sub = {**target, **{k: v for k, v in sub.items() if k != "$ref"}}
        for key, value in sub.items():
            if key == "properties" and isinstance(value, dict):
                props = merged.get("properties")
                merged["properties"] = {**(props if isinstance(props, dict) else {}), **value}
            elif key == "required" and isinstance(value, list):
                req = merged.get("required")
                req = list(req) if isinstance(req, list) else []
                merged["required"] = req + value
            else:
                merged.setdefault(key, value)
    return merged


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null"


def _plain_enum(schema: dict[str, Any]) -> bool:
    """A cleaned node that only lists string values (it may say what they mean)."""
    return (
        schema.get("type") == "string"
        and bool(schema.get("enum"))
        and schema.keys() <= {"type", "enum", "description", "title"}
    )


def _clean(schema: Any, root: dict[str, Any], seen: tuple[str, ...] = (), depth: int = 0) -> dict:
    """One JSON Schema node as a Gemini Schema (see the module notes)."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        target = _resolve_ref(ref, root) if ref not in seen else None
        if target is not None:  # siblings of $ref (a description) win over the target's
            return _clean({**target, **rest}, root, (*seen, ref), depth + 1)
        schema = rest if ref not in seen else {"type": "object", **rest}

    nullable = schema.get("nullable") is True
    union_key = "anyOf" if "anyOf" in schema else "oneOf"
    union = schema.get(union_key)
    if isinstance(union, list):
        branches_raw = [b for b in union if not _is_null(b)]
        nullable = nullable or len(branches_raw) < len(union)
        schema = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
        if len(branches_raw) == 1:  # X or null: X, nullable
            earlier = schema.get("allOf") if isinstance(schema.get("allOf"), list) else []
            schema["allOf"] = [*earlier, branches_raw[0]]
        elif branches_raw:
            schema["anyOf"] = branches_raw
    for _ in range(_MAX_DEPTH):  # nested allOf inside allOf members merge too
        if not isinstance(schema.get("allOf"), list):
            break
        schema = _merge_all_of(schema, root, seen)

    types: list[str] = []
    raw_type = schema.get("type")
    for t in raw_type if isinstance(raw_type, list) else [raw_type]:
        if isinstance(t, str) and t.lower() not in types:
            types.append(t.lower())
    nullable = nullable or "null" in types
    types = [t for t in types if t in _TYPES]

    out: dict[str, Any] = {}
    for key in _DOC_KEYS:
        value = schema.get(key)
        if key in ("description", "title"):
            if isinstance(value, str):
                out[key] = value
        elif key in schema:
            out[key] = value

    if len(types) > 1:  # a union of types: one anyOf branch per type
        rest = {k: v for k, v in schema.items() if k not in _DOC_KEYS and k != "nullable"}
        out["anyOf"] = [_clean({**rest, "type": t}, root, seen, depth + 1) for t in types]
    elif isinstance(schema.get("anyOf"), list):  # the branches say the type
        outer = types[0] if types else None
        branches = []
        for branch in schema["anyOf"]:
            cleaned = _clean(branch, root, seen, depth + 1)
            untyped = "type" not in cleaned and "anyOf" not in cleaned
            if outer is not None and untyped and isinstance(branch, dict):
                cleaned = _clean({**branch, "type": outer}, root, seen, depth + 1)
            branches.append(cleaned)
        if all(_plain_enum(b) for b in branches):  # enum-or-const unions: one enum
            out["type"] = "string"
            out["enum"] = list(dict.fromkeys(v for b in branches for v in b["enum"]))
        else:
            out["anyOf"] = branches
    else:
        kind = types[0] if types else None
        if kind is None:  # no type: infer it from what is there
            if isinstance(schema.get("properties"), dict):
                kind = "object"
            elif "items" in schema:
                kind = "array"
            elif "enum" in schema or "const" in schema:
                kind = "string"
        if kind is not None:
            out["type"] = kind
        _typed(schema, kind, out, root, seen, depth)
    if nullable:
        out["nullable"] = True
    return {k: v for k, v in out.items() if k in _SCHEMA_KEYS}


def _typed(
    schema: dict[str, Any],
    kind: str | None,
    out: dict[str, Any],
    root: dict[str, Any],
    seen: tuple[str, ...],
    depth: int,
) -> None:
    """The keywords of a node with one type (or none): enum, format, bounds, children."""
    values: list[Any] | None = None
    if isinstance(schema.get("enum"), list):
        values = list(schema["enum"])
    elif "const" in schema:
        values = [schema["const"]]
    if values is not None:
        if None in values:
            out["nullable"] = True
        values = [v for v in values if v is not None]
        if values and kind == "string":
            out["enum"] = [v if isinstance(v, str) else common.encode(v).decode() for v in values]
        elif values:  # Gemini enums are strings: say it in words
            listed = ", ".join(common.encode(v).decode() for v in values)
            note = f"One of: {listed}."
            out["description"] = f"{out['description']} ({note})" if "description" in out else note

    fmt = schema.get("format")
    if isinstance(fmt, str) and kind in _FORMATS and fmt in _FORMATS[kind]:
        out["format"] = fmt
    for key in ("minimum", "maximum"):
        value = schema.get(key)
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if numeric and kind in ("number", "integer"):
            out[key] = value
    for key in _COUNT_KEYS.get(kind or "", ()):
        value = schema.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            out[key] = value
    if isinstance(schema.get("pattern"), str) and kind == "string":
        out["pattern"] = schema["pattern"]

    if kind == "object":
        props = schema.get("properties")
        if isinstance(props, dict) and props:
            out["properties"] = {
                str(name): _clean(sub, root, seen, depth + 1) for name, sub in props.items()
            }
            for key in ("required", "propertyOrdering"):
                listed = schema.get(key)
                if isinstance(listed, list):
                    names = [n for n in listed if isinstance(n, str) and n in out["properties"]]
                    if names:
                        out[key] = list(dict.fromkeys(names))
        else:
            out.pop("minProperties", None)
            out.pop("maxProperties", None)
    elif kind == "array":
        items = schema.get("items")
        if isinstance(items, list):  # tuple form: the first shape stands for all
            items = items[0] if items else None
        cleaned = _clean(items, root, seen, depth + 1) if isinstance(items, dict) else {}
        if "type" not in cleaned and "anyOf" not in cleaned:
            cleaned["type"] = "string"  # Gemini rejects an array without typed items
        out["items"] = cleaned


def clean_schema(schema: Any) -> dict[str, Any]:
    """A JSON Schema (tool input_schema, output format) as a Gemini `Schema` object."""
    if not isinstance(schema, dict):
        return {}
    return _clean(schema, schema)


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


def request_to_gemini(body: dict[str, Any], actual_model: str, *, stream: bool) -> dict[str, Any]:
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
    elif search:
        req["tools"] = [{"googleSearch": {}}]

    generation: dict[str, Any] = {}
    if isinstance(body.get("max_tokens"), int) and not isinstance(body["max_tokens"], bool):
        generation["maxOutputTokens"] = body["max_tokens"]
    for src, dst in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK")):
        value = body.get(src)
        if isinstance(value, int | float) and not isinstance(value, bool):
            generation[dst] = value
    stops = body.get("stop_sequences")
    if isinstance(stops, list):
        stops = [s for s in stops if isinstance(s, str) and s][:_MAX_STOP_SEQUENCES]
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
    for part in _parts(candidate):
        if part.function_call is not None:
            has_tools = True
            call = part.function_call
            content.append(
                {
                    "type": "tool_use",
                    "id": common.new_id("toolu_"),
                    "name": call.name or "",
                    "input": _args(call.args),
                }
            )
        elif part.thought:
            if not part.text and not part.thought_signature:
                continue
            last = content[-1] if content else None
            if last is None or last["type"] != "thinking":
                last = {"type": "thinking", "thinking": "", "signature": ""}
                content.append(last)
            last["thinking"] += part.text or ""
            if part.thought_signature:
                last["signature"] = part.thought_signature
        elif part.text:
            last = content[-1] if content else None
            if last is not None and last["type"] == "text":
                last["text"] += part.text
            else:
                content.append({"type": "text", "text": part.text})
    finish = candidate.finish_reason if candidate is not None else None
    if candidate is not None and not content and finish not in _NORMAL_FINISH:
        refused = True  # e.g. blocked: a candidate with no content at all
    stop_reason = _stop_reason(finish, has_tools, refused)
    return common.message(requested_model, content, stop_reason, None, _usage(resp.usage_metadata))


# --------------------------------------------------------------------------- stream


class StreamTranslator(common.AnthropicStream):
    """Gemini `streamGenerateContent?alt=sse` chunks in, Anthropic SSE events out.

    Call `feed` with each upstream `data:` payload and `finish` when the upstream ends
    (Gemini sends no terminator: the last chunk carries the finishReason). Both return
    encoded SSE events; `started` tells whether message_start has gone out (after that,
    failures must be sent as SSE error events).
    """

    def __init__(self, requested_model: str, input_tokens_estimate: int = 0) -> None:
        super().__init__(requested_model, input_tokens_estimate)
        self._live: str | None = None  # "text" or "thinking" while such a block is open
        self._live_index = -1
        self._has_tools = False
        self._finish_reason: str | None = None
        self._ended = False  # a finishReason or a block reason was seen
        self._refused = False
        self._usage: UsageMetadata | None = None

    # -- input

    def feed(self, data: str) -> list[bytes]:
        data = self._payload(data)
        if not data:
            return []
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
            if part.function_call is not None:
                self._tool(part, out)
            elif part.thought:
                if part.text:
                    self._put("thinking", part.text, out)
                if part.thought_signature:
                    if self._live != "thinking":
                        self._close(out)
                        self._open("thinking", out)
                    self._block_delta(out, self._live_index, "signature", part.thought_signature)
            elif part.text:
                self._put("text", part.text, out)
        if candidate is not None and candidate.finish_reason:
            self._finish_reason = candidate.finish_reason
            self._ended = True
        return out

    def finish(self) -> list[bytes]:
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
        self._block_stop(out, self._live_index)
        self._live = None

    def _put(self, kind: str, text: str, out: list[bytes]) -> None:
        self._chars += len(text)
        if self._live != kind:
            self._close(out)
            self._open(kind, out)
        self._block_delta(out, self._live_index, kind, text)

    def _tool(self, part: Part, out: list[bytes]) -> None:
        call = part.function_call
        assert call is not None
        self._close(out)
        self._has_tools = True
        index = self._block_start(out, "tool", common.new_id("toolu_"), call.name or "")
        args = common.encode(_args(call.args)).decode()
        self._chars += len(args)
        self._block_delta(out, index, "tool", args)
        self._block_stop(out, index)
