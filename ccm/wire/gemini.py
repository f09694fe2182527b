"""Google Gemini wire shapes that ccm reads from upstreams: the `generateContent` response
and the `streamGenerateContent?alt=sse` chunk (the same `GenerateContentResponse` shape,
one per SSE `data:` payload).

Decode with `msgspec.json.decode(raw, type=GenerateContentResponse)` (or `StreamChunk`).
Field names are camelCase on the wire (`rename="camel"`). The Structs are tolerant, because
the Gemini API, Vertex AI and proxies in front of them differ and grow fields:

- unknown fields are ignored (msgspec's default), and every field may be missing or null;
- token counts are ints, but a float is accepted rather than failing the whole body;
- `functionCall.args` is an object; anything else is taken as given and checked later;
- an `error` object may appear in a 200 body or in a stream chunk (Google's error shape:
  `{"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED", "details": []}}`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from ccm.wire.common import ErrorInfo, Number


class FunctionCall(msgspec.Struct, rename="camel"):
    name: str | None = None
    args: Any = None
    id: str | None = None  # set by some endpoints; ccm makes its own tool_use ids


class Part(msgspec.Struct, rename="camel"):
    """One part of a candidate's content: text, a thought summary, a function call ..."""

    text: str | None = None
    thought: bool | None = None  # True: `text` is a thought summary (reasoning)
    thought_signature: str | None = None  # opaque, base64
    function_call: FunctionCall | None = None
    # other kinds (inlineData, executableCode, codeExecutionResult ...) are not read


class Content(msgspec.Struct, rename="camel"):
    role: str | None = None
    parts: list[Part] | None = None


class Candidate(msgspec.Struct, rename="camel"):
    content: Content | None = None
    finish_reason: str | None = None  # STOP, MAX_TOKENS, SAFETY, RECITATION, ...
    finish_message: str | None = None
    index: int | None = None


class PromptFeedback(msgspec.Struct, rename="camel"):
    block_reason: str | None = None  # SAFETY, OTHER, BLOCKLIST, PROHIBITED_CONTENT, ...
    block_reason_message: str | None = None


class UsageMetadata(msgspec.Struct, rename="camel"):
    prompt_token_count: Number | None = None  # includes cached tokens
    cached_content_token_count: Number | None = None
    candidates_token_count: Number | None = None
    thoughts_token_count: Number | None = None  # not included in candidatesTokenCount
    tool_use_prompt_token_count: Number | None = None
    total_token_count: Number | None = None


class GenerateContentResponse(msgspec.Struct, rename="camel"):
    candidates: list[Candidate] | None = None
    prompt_feedback: PromptFeedback | None = None
    usage_metadata: UsageMetadata | None = None
    model_version: str | None = None
    response_id: str | None = None
    error: ErrorInfo | str | None = None


# A stream chunk is a GenerateContentResponse holding the parts produced since the last one.
StreamChunk = GenerateContentResponse
