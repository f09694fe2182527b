"""Provider types: which dialect each speaks, its default base URL, auth style and quirks.

Every claude-code-mux type is here with its base URL; ccm adds deepseek, ollama,
openai-responses and two generic types. Unlike mux, `base_url` in the config overrides the
default for every type. A type signed in with OAuth (`auth_type = "oauth"`) may speak a
variant: ChatGPT sign-in goes to the Codex backend (Responses), Google sign-in to Code Assist.

Everything outside ccm/dialects/ asks this module (config validation, the provider client,
OAuth, the admin page's catalog) instead of knowing a type or dialect by name. `register()`
adds a type at run time (tests register a toy dialect this way).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ccm.dialects import quirks as q
from ccm.dialects.anthropic import ANTHROPIC
from ccm.dialects.base import Dialect
from ccm.dialects.gemini import CODE_ASSIST, GEMINI, VERTEX
from ccm.dialects.openai_chat import CHAT
from ccm.dialects.openai_responses import CODEX, RESPONSES
from ccm.oauth.flows import flow_for_provider_type

if TYPE_CHECKING:
    from ccm.config.schema import ProviderConfig

Auth = Literal["x-api-key", "bearer", "x-goog-api-key", "none"]


@dataclass(frozen=True, slots=True)
class Preset:
    dialect: Dialect
    base_url: str  # without the dialect's path suffix (/v1/messages, /chat/completions)
    auth: Auth
    group: str  # how the admin page groups the type
    needs_key: bool = True
    headers: Mapping[str, str] = field(default_factory=dict)
    quirks: q.Quirks = q.DEFAULT
    # what the config must give besides the type: "base_url", or "project_id+location"
    # (either that or a base_url)
    requires: str = ""
    google_adc: bool = False  # without an api_key: a token from Google's default credentials
    oauth: Preset | None = None  # what the type speaks when signed in with OAuth


_ANTHROPIC = "Anthropic-compatible"
_CHAT = "OpenAI Chat Completions"
_RESPONSES = "OpenAI Responses"
_GOOGLE = "Google"
CHATGPT_CODEX_URL = "https://chatgpt.com/backend-api/codex"
CODE_ASSIST_URL = "https://cloudcode-pa.googleapis.com/v1internal"

_CODEX = Preset(CODEX, CHATGPT_CODEX_URL, "bearer", _RESPONSES, quirks=q.RESPONSES)


def _vendor(base: str) -> Preset:
    return Preset(ANTHROPIC, base, "x-api-key", _ANTHROPIC, quirks=q.ANTHROPIC_VENDOR)


def _chat(base: str, quirks: q.Quirks = q.COMPATIBLE_VENDOR, **kw: Any) -> Preset:
    return Preset(CHAT, base, "bearer", _CHAT, quirks=quirks, **kw)


PRESETS: dict[str, Preset] = {
    # Anthropic-compatible
    "anthropic": Preset(
        ANTHROPIC, "https://api.anthropic.com", "x-api-key", _ANTHROPIC, quirks=q.ANTHROPIC
    ),
    "z.ai": _vendor("https://api.z.ai/api/anthropic"),
    "minimax": _vendor("https://api.minimax.io/anthropic"),
    "zenmux": _vendor("https://zenmux.ai/api/anthropic"),
    "kimi-coding": _vendor("https://api.kimi.com/coding"),
    "anthropic-compatible": Preset(
        ANTHROPIC, "", "x-api-key", _ANTHROPIC, quirks=q.ANTHROPIC_COMPATIBLE, requires="base_url"
    ),
    # OpenAI Chat Completions
    "openai": _chat("https://api.openai.com/v1", q.OPENAI, oauth=_CODEX),
    "openrouter": _chat(
        "https://openrouter.ai/api/v1",
        q.OPENROUTER,
        headers={"HTTP-Referer": "https://github.com/ccm-proxy/ccm", "X-Title": "ccm"},
    ),
    "deepinfra": _chat("https://api.deepinfra.com/v1/openai"),
    "novita": _chat("https://api.novita.ai/v3/openai"),
    "baseten": _chat("https://inference.baseten.co/v1"),
    "together": _chat("https://api.together.xyz/v1"),
    "fireworks": _chat("https://api.fireworks.ai/inference/v1"),
    "groq": _chat("https://api.groq.com/openai/v1", q.GROQ),
    "nebius": _chat("https://api.studio.nebius.ai/v1"),
    "cerebras": _chat("https://api.cerebras.ai/v1"),
    "moonshot": _chat("https://api.moonshot.cn/v1", q.MOONSHOT),
    "deepseek": _chat("https://api.deepseek.com/v1", q.DEEPSEEK),
    "ollama": _chat("http://127.0.0.1:11434/v1", q.OLLAMA, needs_key=False),
    "openai-compatible": _chat("", q.OPENAI_COMPATIBLE, requires="base_url"),
    # OpenAI Responses API (/v1/responses): OpenAI itself, or any server that speaks it
    "openai-responses": Preset(
        RESPONSES,
        "https://api.openai.com/v1",
        "bearer",
        _RESPONSES,
        quirks=q.RESPONSES,
        oauth=_CODEX,
    ),
    # Google
    "gemini": Preset(
        GEMINI,
        "https://generativelanguage.googleapis.com/v1beta",
        "x-goog-api-key",
        _GOOGLE,
        quirks=q.GEMINI,
        oauth=Preset(CODE_ASSIST, CODE_ASSIST_URL, "bearer", _GOOGLE, quirks=q.GEMINI),
    ),
    "vertex-ai": Preset(
        VERTEX,
        "",
        "bearer",
        _GOOGLE,
        needs_key=False,
        quirks=q.GEMINI,
        requires="project_id+location",
        google_adc=True,
    ),
}


def preset(provider_type: str, auth_type: str = "apikey") -> Preset | None:
    """The preset a provider of this type (and auth) uses; None for an unknown type."""
    pre = PRESETS.get(provider_type)
    if pre is not None and auth_type == "oauth" and pre.oauth is not None:
        return pre.oauth
    return pre


def register(provider_type: str, value: Preset) -> Callable[[], None]:
    """Add (or replace) a provider type; returns the function that undoes it."""
    before = PRESETS.get(provider_type)
    PRESETS[provider_type] = value

    def undo() -> None:
        if before is None:
            PRESETS.pop(provider_type, None)
        else:
            PRESETS[provider_type] = before

    return undo


def quirks_for(config: ProviderConfig) -> q.Quirks:
    """The type's quirks with the provider's own `[providers.quirks]` on top."""
    pre = preset(config.provider_type, config.auth_type)
    base = pre.quirks if pre is not None else q.DEFAULT
    return q.with_overrides(base, config.quirks)


def problems(config: ProviderConfig) -> list[str]:
    """What the config of one provider lacks or gets wrong, as far as its type can tell."""
    pre = PRESETS.get(config.provider_type)
    if pre is None:
        known = ", ".join(sorted(PRESETS))
        return [f"unknown provider_type {config.provider_type!r} (known: {known})"]
    out = []
    if pre.requires == "base_url" and not config.base_url:
        out.append(f"type {config.provider_type} needs a base_url")
    located = config.base_url or (config.project_id and config.location)
    if pre.requires == "project_id+location" and not located:
        out.append(f"{config.provider_type} needs project_id and location (or base_url)")
    out.extend(q.problems(config.quirks))
    return out


def oauth_flow(provider_type: str) -> str | None:
    """The OAuth sign-in flow a type uses by default (ccm/oauth/flows.py)."""
    return flow_for_provider_type(provider_type)


def catalog() -> dict[str, Any]:
    """Provider types for the admin page: grouped, with their defaults."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for name, pre in PRESETS.items():
        groups.setdefault(pre.group, []).append(
            {
                "type": name,
                "dialect": pre.dialect.name,
                "base_url": pre.base_url,
                "needs_key": pre.needs_key,
                "requires": pre.requires,
                "oauth_flow": oauth_flow(name),
                "context_window": pre.quirks.context_window,
            }
        )
    return {"groups": [{"name": g, "types": types} for g, types in groups.items()]}
