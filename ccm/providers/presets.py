"""Provider types: the wire dialect each speaks, its default base URL and how it authenticates.

Every claude-code-mux type is here with its base URL; ccm adds deepseek, ollama and two
generic types. Unlike mux, `base_url` in the config overrides the default for every type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Dialect = Literal["anthropic", "openai", "openai-responses", "gemini"]
Auth = Literal["x-api-key", "bearer", "x-goog-api-key", "none"]


@dataclass(frozen=True, slots=True)
class Preset:
    dialect: Dialect
    base_url: str  # without the dialect's path suffix (/v1/messages, /chat/completions)
    auth: Auth
    needs_key: bool = True
    headers: dict[str, str] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    # Anthropic-compatible
    "anthropic": Preset("anthropic", "https://api.anthropic.com", "x-api-key"),
    "z.ai": Preset("anthropic", "https://api.z.ai/api/anthropic", "x-api-key"),
    "minimax": Preset("anthropic", "https://api.minimax.io/anthropic", "x-api-key"),
    "zenmux": Preset("anthropic", "https://zenmux.ai/api/anthropic", "x-api-key"),
    "kimi-coding": Preset("anthropic", "https://api.kimi.com/coding", "x-api-key"),
    "anthropic-compatible": Preset("anthropic", "", "x-api-key"),
    # OpenAI Chat Completions
    "openai": Preset("openai", "https://api.openai.com/v1", "bearer"),
    "openrouter": Preset(
        "openai",
        "https://openrouter.ai/api/v1",
        "bearer",
        headers={"HTTP-Referer": "https://github.com/ccm-proxy/ccm", "X-Title": "ccm"},
    ),
    "deepinfra": Preset("openai", "https://api.deepinfra.com/v1/openai", "bearer"),
    "novita": Preset("openai", "https://api.novita.ai/v3/openai", "bearer"),
    "baseten": Preset("openai", "https://inference.baseten.co/v1", "bearer"),
    "together": Preset("openai", "https://api.together.xyz/v1", "bearer"),
    "fireworks": Preset("openai", "https://api.fireworks.ai/inference/v1", "bearer"),
    "groq": Preset("openai", "https://api.groq.com/openai/v1", "bearer"),
    "nebius": Preset("openai", "https://api.studio.nebius.ai/v1", "bearer"),
    "cerebras": Preset("openai", "https://api.cerebras.ai/v1", "bearer"),
    "moonshot": Preset("openai", "https://api.moonshot.cn/v1", "bearer"),
    "deepseek": Preset("openai", "https://api.deepseek.com/v1", "bearer"),
    "ollama": Preset("openai", "http://127.0.0.1:11434/v1", "none", needs_key=False),
    "openai-compatible": Preset("openai", "", "bearer"),
    # OpenAI Responses API (/v1/responses): OpenAI itself, or any server that speaks it
    "openai-responses": Preset("openai-responses", "https://api.openai.com/v1", "bearer"),
    # Google
    "gemini": Preset(
        "gemini", "https://generativelanguage.googleapis.com/v1beta", "x-goog-api-key"
    ),
    "vertex-ai": Preset("gemini", "", "bearer", needs_key=False),
}

# types whose base URL the user must give
NEEDS_BASE_URL = frozenset({"anthropic-compatible", "openai-compatible"})


def preset(provider_type: str) -> Preset | None:
    return PRESETS.get(provider_type)
