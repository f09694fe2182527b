"""OpenAI Chat Completions wire shapes that ccm reads from upstreams: the non-stream response
and the stream chunk.

Decode with `msgspec.json.decode(raw, type=ChatCompletion)` / `type=ChatCompletionChunk`.
The Structs are deliberately tolerant, because "OpenAI-compatible" providers differ:

- unknown fields are ignored (msgspec's default), and every field may be missing or null;
- `content` may be a string, null, or (rarely) a list of parts;
- reasoning comes as `reasoning_content` (DeepSeek, Kimi, GLM, vLLM) or `reasoning`
  (OpenRouter, newer vLLM; some send both with the same text), and OpenRouter adds
  `reasoning_details` (typed items, some encrypted) that must go back unchanged;
- `function.arguments` is normally a JSON string, but a few servers send an object;
- cached prompt tokens are `prompt_tokens_details.cached_tokens` (OpenAI),
  `prompt_cache_hit_tokens` (DeepSeek) or a top-level `cached_tokens` (Moonshot);
- the stop string that ended generation may be reported as `stop_reason` (vLLM) or
  `matched_stop` (SGLang) on the choice; an int there is a token id, not a string;
- token counts are ints, but a float is accepted rather than failing the whole body;
- an `error` object (or string) may appear in a 200 body or in a stream chunk.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ccm.wire.common import CachedTokensDetails, ErrorInfo, Number, ReasoningTokensDetails


class FunctionCall(msgspec.Struct):
    name: str | None = None
    arguments: str | dict[str, Any] | None = None


class ToolCall(msgspec.Struct):
    """A complete tool call (response) or a piece of one (stream delta, keyed by `index`)."""

    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: FunctionCall | None = None


class Message(msgspec.Struct):
    """`choices[i].message` of a response, and `choices[i].delta` of a stream chunk."""

    role: str | None = None
    content: str | list[Any] | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    reasoning_details: list[Any] | None = None  # OpenRouter: given back as they came
    refusal: str | None = None
    tool_calls: list[ToolCall] | None = None


class Choice(msgspec.Struct):
    index: int | None = None
    message: Message | None = None
    finish_reason: str | None = None
    stop_reason: str | int | None = None  # vLLM: the stop string that matched
    matched_stop: str | int | None = None  # SGLang: the same


class ChunkChoice(msgspec.Struct):
    index: int | None = None
    delta: Message | None = None
    finish_reason: str | None = None
    stop_reason: str | int | None = None
    matched_stop: str | int | None = None


class Usage(msgspec.Struct):
    prompt_tokens: Number | None = None
    completion_tokens: Number | None = None
    total_tokens: Number | None = None
    prompt_tokens_details: CachedTokensDetails | None = None
    completion_tokens_details: ReasoningTokensDetails | None = None
    prompt_cache_hit_tokens: Number | None = None  # DeepSeek
    cached_tokens: Number | None = None  # Moonshot / Kimi

    @property
    def cached(self) -> int | None:
        """Prompt tokens read from the provider's cache, if it says."""
        d = self.prompt_tokens_details
        if d is not None and d.cached_tokens is not None:
            return int(d.cached_tokens)
        if self.prompt_cache_hit_tokens is not None:
            return int(self.prompt_cache_hit_tokens)
        if self.cached_tokens is not None:
            return int(self.cached_tokens)
        return None


class ChatCompletion(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    choices: list[Choice] | None = None
    usage: Usage | None = None
    error: ErrorInfo | str | None = None


class ChatCompletionChunk(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    choices: list[ChunkChoice] | None = None
    usage: Usage | None = None
    error: ErrorInfo | str | None = None
