"""Provider quirks as data: what one provider type accepts and how its answers look, per field.

Every preset carries a `Quirks` value; a provider in the config may override any field under
`[providers.quirks]` (docs/config.md). The translators read these fields instead of testing
provider names. Where a value came from a provider's API reference, the comment says which.
"""

from __future__ import annotations

import fnmatch
from typing import Any, Literal

import msgspec

ReasoningParam = Literal["none", "reasoning_effort", "reasoning", "thinking"]
ReasoningField = Literal["reasoning_content", "reasoning", "reasoning_details"]
# how a provider runs Anthropic's `web_search` server tool (ccm.dialects.websearch)
WebSearch = Literal["none", "native", "responses", "chat_options", "openrouter", "gemini"]


class Quirks(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # the request field that carries Claude Code's max_tokens (Chat Completions); unset:
    # max_tokens, or max_completion_tokens for OpenAI reasoning model names (they refuse it)
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] | None = None
    # how to ask for reasoning: none; `reasoning_effort: low|medium|high` (OpenAI);
    # `reasoning: {effort}` (OpenRouter); `thinking: {type: enabled|disabled}` (DeepSeek, GLM)
    reasoning_param: ReasoningParam = "none"
    # OpenAI's o-series / gpt-5: only those models take reasoning_effort, and they refuse
    # temperature, top_p and stop; other models of the same type are sent the plain request
    reasoning_models_only: bool = False
    # how reasoning comes back (and, with echo_reasoning, goes back on the next turn)
    reasoning_field: ReasoningField = "reasoning_content"
    # the provider wants earlier reasoning back on assistant messages (always on assistant
    # tool-call messages, even empty): DeepSeek thinking mode, Kimi K2 thinking, GLM
    echo_reasoning: bool = False
    max_tools: int | None = None  # more tools than this: the rest are left out (logged)
    tool_choice: bool = True  # False: tool_choice is not sent (auto is the provider's default)
    clean_schema: bool = False  # strip JSON Schema keywords the provider refuses
    images: bool = True  # False: images become a short note in the text
    max_stop_sequences: int | None = None  # more than this are cut (OpenAI 4, Gemini 5)
    prompt_cache_key: bool = False  # the Claude Code session goes as prompt_cache_key
    user_field: bool = True  # a stable short id of the Claude Code user goes as `user`
    json_schema: bool = False  # output_config.format -> response_format json_schema
    sampling: bool = True  # False: temperature / top_p are not sent (fixed by the provider)
    signed_thinking_only: bool = False  # Anthropic's own API: unsigned thinking is refused
    count_tokens: bool = False  # the upstream has /v1/messages/count_tokens
    context_window: int | None = None  # tokens, where the provider documents one
    max_output_tokens: int | None = None  # a cap on max_tokens, where documented
    # Anthropic's web_search server tool: "native" (the upstream runs it, Anthropic's own
    # API), "responses" (the Responses API's `web_search` tool), "chat_options" (Chat
    # Completions `web_search_options`, only on models matching `web_search_models`),
    # "openrouter" (its web plugin), "gemini" (`googleSearch`), "none": it cannot search;
    # ccm then routes such a request to a websearch route that can, else the model gets the
    # tool as a function whose call is answered with a "search unavailable" error
    web_search: WebSearch = "none"
    web_search_models: str | None = None  # glob of the model names that can search


DEFAULT = Quirks()
FIELDS = frozenset(Quirks.__struct_fields__)


def with_overrides(base: Quirks, overrides: dict[str, Any] | None) -> Quirks:
    """`base` with a config's `[providers.quirks]` on top; ValueError naming a bad key."""
    if not overrides:
        return base
    merged = {**msgspec.structs.asdict(base), **overrides}
    try:
        return msgspec.convert(merged, Quirks)
    except msgspec.ValidationError as e:
        raise ValueError(str(e)) from None


def searches(quirks: Quirks, model: str) -> bool:
    """Whether a request with Anthropic's web_search tool can search at this provider."""
    if quirks.web_search == "none":
        return False
    pattern = quirks.web_search_models
    return pattern is None or fnmatch.fnmatchcase(model.rsplit("/", 1)[-1].lower(), pattern)


def problems(overrides: Any) -> list[str]:
    """What is wrong with a config's quirk overrides (unknown keys, wrong types)."""
    if overrides is None:
        return []
    if not isinstance(overrides, dict):
        return ["quirks must be a table"]
    unknown = sorted(set(overrides) - FIELDS)
    if unknown:
        return [
            f"unknown quirk {', '.join(map(repr, unknown))} (known: {', '.join(sorted(FIELDS))})"
        ]
    try:
        with_overrides(DEFAULT, overrides)
    except ValueError as e:
        return [f"quirks: {e}"]
    return []


# --------------------------------------------------------------------------- per type

# Anthropic's Messages API: count_tokens exists; thinking blocks must carry Anthropic's own
# signature (docs.anthropic.com, "Extended thinking": blocks from other sources are refused)
# Anthropic's web_search tool runs on Anthropic's side ("Web search tool": a server tool)
ANTHROPIC = Quirks(signed_thinking_only=True, count_tokens=True, web_search="native")
# any server that speaks the Messages API at a base URL the user gives; count_tokens is tried;
# server tools go through as they came (the server decides)
ANTHROPIC_COMPATIBLE = Quirks(count_tokens=True, web_search="native")
# Anthropic-compatible vendors: their /anthropic endpoints take the Messages body as it is and
# have no count_tokens (z.ai docs.z.ai "Claude Code"; MiniMax platform.minimax.io "Anthropic
# API compatible"; Kimi api.kimi.com/coding): ccm estimates counts for them. Server tools are
# passed through as they came (set `web_search = "none"` for one that cannot run them)
ANTHROPIC_VENDOR = Quirks(web_search="native")

# OpenAI Chat Completions (platform.openai.com/docs/api-reference/chat/create): `max_tokens`
# is deprecated for max_completion_tokens (and refused by o-series); stop: "up to 4
# sequences"; tools: "a max of 128 functions"; prompt_cache_key and response_format
# json_schema are documented; reasoning_effort only for reasoning models. Web search in Chat
# Completions is `web_search_options` on the search models only (gpt-4o-search-preview,
# gpt-4o-mini-search-preview, gpt-5-search-api: developers.openai.com "Web search")
OPENAI = Quirks(
    max_tokens_field="max_completion_tokens",
    reasoning_param="reasoning_effort",
    reasoning_models_only=True,
    max_stop_sequences=4,
    max_tools=128,
    prompt_cache_key=True,
    json_schema=True,
    web_search="chat_options",
    web_search_models="*search*",
)
# a server that says it speaks Chat Completions: OpenAI's documented limits, nothing more
OPENAI_COMPATIBLE = Quirks(max_stop_sequences=4)
# OpenRouter (openrouter.ai/docs/api-reference/parameters, /docs/use-cases/reasoning-tokens):
# max_tokens; `reasoning: {effort}`; reasoning comes back as `reasoning` plus
# `reasoning_details`, which must be passed back unmodified on assistant messages for
# tool-calling models that reason (Gemini 3, Claude, o-series through OpenRouter). Web
# search for any model: the `web` plugin, `plugins: [{id: "web"}]` (openrouter.ai/docs,
# "Web Search"), answers citing `url_citation` annotations
OPENROUTER = Quirks(
    max_tokens_field="max_tokens",
    reasoning_param="reasoning",
    reasoning_field="reasoning_details",
    echo_reasoning=True,
    json_schema=True,
    web_search="openrouter",
)
# DeepSeek (api-docs.deepseek.com/guides/thinking_mode, /api/create-chat-completion):
# max_tokens; thinking mode switched by `thinking: {type}`, effort by reasoning_effort;
# "for turns that do perform tool calls, the reasoning_content must be fully passed back to
# the API in all subsequent requests" (else 400 "Missing reasoning_content field");
# temperature/top_p are ignored in thinking mode; stop: up to 16; 128 tools; no images
DEEPSEEK = Quirks(
    reasoning_param="thinking",
    echo_reasoning=True,
    max_stop_sequences=16,
    max_tools=128,
    images=False,
    context_window=128_000,
)
# Moonshot / Kimi (platform.moonshot.ai/docs, "Use kimi-k2-thinking"): the thinking models
# answer with reasoning_content and require it to be kept on assistant tool-call messages;
# max_tokens; stop: up to 5; 128 tools; sampling parameters are fixed on kimi-* models;
# 256k context for K2
MOONSHOT = Quirks(
    echo_reasoning=True,
    max_stop_sequences=5,
    max_tools=128,
    context_window=262_144,
)
# Groq (console.groq.com/docs/api-reference#chat-create): max_completion_tokens (max_tokens
# deprecated); stop: "up to 4 sequences"; reasoning_effort on its reasoning models (gpt-oss,
# qwen3) and reasoning returned as `reasoning` (reasoning_format parsed); 128 tools; no
# prompt_cache_key
GROQ = Quirks(
    max_tokens_field="max_completion_tokens",
    reasoning_field="reasoning",
    max_stop_sequences=4,
    max_tools=128,
)
# Ollama's OpenAI compatibility (docs.ollama.com/api/openai-compatibility): max_tokens;
# reasoning_effort accepted for thinking models, reasoning returned as `reasoning`; no
# prompt_cache_key; tool_choice is not supported (it is ignored, so ccm leaves it out)
OLLAMA = Quirks(
    reasoning_param="reasoning_effort",
    reasoning_field="reasoning",
    tool_choice=False,
)
# Cerebras, Together, Fireworks, DeepInfra, Novita, Baseten, Nebius: OpenAI-compatible with
# OpenAI's stop limit; nothing else documented that ccm must act on
COMPATIBLE_VENDOR = Quirks(max_stop_sequences=4)

# OpenAI Responses (platform.openai.com/docs/api-reference/responses): max_output_tokens, no
# stop sequences; reasoning items come back with encrypted_content when include asks for it;
# the hosted `web_search` tool (developers.openai.com "Web search": `{type: "web_search"}`,
# `web_search_call` output items, `url_citation` annotations)
RESPONSES = Quirks(
    max_tools=128,
    prompt_cache_key=True,
    json_schema=True,
    reasoning_models_only=True,
    web_search="responses",
)
# Gemini generateContent (ai.google.dev/api/generate-content): stopSequences "up to 5";
# JSON Schema must be cleaned to its OpenAPI subset; thoughtSignature must come back;
# Grounding with Google Search is the `googleSearch` tool
GEMINI = Quirks(max_stop_sequences=5, clean_schema=True, json_schema=True, web_search="gemini")
