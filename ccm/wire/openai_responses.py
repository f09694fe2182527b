"""OpenAI Responses API wire shapes that ccm reads from upstreams: the response object
(`POST /v1/responses` without streaming, and the `response` inside the lifecycle stream
events) and the stream events.

Decode with `msgspec.json.decode(raw, type=Response)` / `type=StreamEvent`. The Structs
are deliberately tolerant, because the OpenAI API, the ChatGPT Codex backend and
"Responses-compatible" servers (vLLM, OpenRouter, LM Studio ...) differ in detail:

- unknown fields are ignored (msgspec's default), and every field may be missing or null;
- one flat `StreamEvent` covers every event type (its `type` field says which); fields that
  an event type does not use are simply None;
- one flat `OutputItem` covers every output item type (`message`, `reasoning`,
  `function_call`, and the built-in tool calls ccm ignores);
- a message's `content` is normally a list of parts, but a plain string is accepted;
- reasoning comes as `summary` parts (OpenAI: summary_text) and/or `content` parts
  (open-weight servers: reasoning_text);
- `arguments` is normally a JSON string, but a few servers send an object;
- errors arrive as `error` objects (response.failed, a 200 body) or, in a top-level `error`
  stream event, as `code`/`message` fields on the event itself (some servers nest them in
  `error`);
- token counts are ints, but a float is accepted rather than failing the whole body.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ccm.wire.common import CachedTokensDetails, ErrorInfo, Number, ReasoningTokensDetails


class ContentPart(msgspec.Struct):
    """A part of a message (`output_text`, `refusal`), a reasoning summary part
    (`summary_text`) or a reasoning content part (`reasoning_text`)."""

    type: str | None = None
    text: str | None = None
    refusal: str | None = None


class OutputItem(msgspec.Struct):
    type: str | None = None
    id: str | None = None
    status: str | None = None
    role: str | None = None
    content: str | list[ContentPart] | None = None  # message parts / reasoning_text parts
    summary: list[ContentPart] | None = None  # reasoning: summary_text parts
    call_id: str | None = None  # function_call
    name: str | None = None
    arguments: str | dict[str, Any] | None = None
    encrypted_content: str | None = None  # reasoning, when include asks for it
    action: SearchAction | None = None  # web_search_call: what was searched


class SearchSource(msgspec.Struct):
    type: str | None = None
    url: str | None = None
    title: str | None = None


class SearchAction(msgspec.Struct):
    """A web_search_call's action: `search` (query, queries, sources when include asks for
    `web_search_call.action.sources`), `open_page`, `find`."""

    type: str | None = None
    query: str | None = None
    queries: list[str] | None = None
    url: str | None = None
    sources: list[SearchSource] | None = None


class Usage(msgspec.Struct):
    input_tokens: Number | None = None
    output_tokens: Number | None = None
    total_tokens: Number | None = None
    input_tokens_details: CachedTokensDetails | None = None
    output_tokens_details: ReasoningTokensDetails | None = None

    @property
    def cached(self) -> int | None:
        """Input tokens read from the provider's cache, if it says."""
        d = self.input_tokens_details
        if d is not None and d.cached_tokens is not None:
            return int(d.cached_tokens)
        return None


class IncompleteDetails(msgspec.Struct):
    reason: str | None = None  # "max_output_tokens" | "content_filter"


class Response(msgspec.Struct):
    id: str | None = None
    object: str | None = None
    model: str | None = None
    status: str | None = None  # completed | incomplete | failed | in_progress | cancelled
    output: list[OutputItem] | None = None
    usage: Usage | None = None
    error: ErrorInfo | str | None = None
    incomplete_details: IncompleteDetails | None = None


class StreamEvent(msgspec.Struct):
    """Any Responses stream event; `type` names it (e.g. "response.output_text.delta")."""

    type: str | None = None
    sequence_number: int | None = None
    response: Response | None = None  # response.created / in_progress / completed / ...
    output_index: int | None = None
    item_id: str | None = None
    item: OutputItem | None = None  # response.output_item.added / done
    content_index: int | None = None
    summary_index: int | None = None
    part: ContentPart | None = None  # content_part.* / reasoning_summary_part.*
    delta: str | None = None  # *.delta (text, refusal, arguments, summary, reasoning)
    text: str | None = None  # *.done
    refusal: str | None = None  # response.refusal.done
    arguments: str | None = None  # response.function_call_arguments.done
    name: str | None = None
    # the top-level `error` event
    code: Any = None
    message: str | None = None
    param: Any = None
    error: ErrorInfo | str | None = None
