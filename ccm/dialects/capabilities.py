"""What one model behind one provider can do: see images, how many tokens it reads and
writes, whether it can run Anthropic's `web_search` server tool.

Each value comes from the first of these that knows it:
1. the mapping (`vision`, `context_window`, `max_tokens` in `[[models.mappings]]`);
2. the provider's own `[providers.quirks]` (`images`, `context_window`, `max_output_tokens`:
   what the user said about that server outranks ccm's data about the model's family);
3. MODEL_FAMILIES below: well-known model names, with the page each value came from;
4. the provider type's quirks (ccm.dialects.quirks), e.g. DeepSeek takes no images;
5. unknown: vision is then assumed (images go through as before), windows are None.
Web search is the provider's (quirk `web_search`, and `web_search_models` for types where only
some models search). The router reads these per chain entry (ccm.rules.chain), `ccm code`
the context window and output limit.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ccm.dialects import registry
from ccm.dialects.quirks import searches

if TYPE_CHECKING:
    from ccm.config.schema import Mapping, ProviderConfig


@dataclass(frozen=True, slots=True)
class Family:
    """Capabilities of a model family, matched on the model id's last path segment
    (`z-ai/glm-4.6` -> `glm-4.6`), lower case, by glob."""

    pattern: str
    vision: bool | None = None
    context_window: int | None = None
    max_output: int | None = None
    source: str = ""


# first match wins: specific patterns before general ones
MODEL_FAMILIES: tuple[Family, ...] = (
    # Z.ai GLM (docs.z.ai model pages): the V models see, the others are text-only
    Family("glm-4.*v*", vision=True, context_window=128_000, source="docs.z.ai GLM-4.5V/4.6V"),
    Family("glm-4.6*", vision=False, context_window=200_000, source="docs.z.ai GLM-4.6"),
    Family("glm-4.5*", vision=False, context_window=128_000, source="docs.z.ai GLM-4.5"),
    # DeepSeek (api-docs.deepseek.com "Models & Pricing"): text only, 128K context;
    # output max 8K (chat) and 64K (reasoner)
    Family("deepseek-chat", vision=False, context_window=128_000, max_output=8_192,
           source="api-docs.deepseek.com models"),
    Family("deepseek-reasoner", vision=False, context_window=128_000, max_output=65_536,
           source="api-docs.deepseek.com models"),
    # Moonshot Kimi K2 (platform.moonshot.ai): text only; 256K context
    Family("kimi-k2*", vision=False, context_window=262_144, source="platform.moonshot.ai"),
    # MiniMax M2 (platform.minimax.io): text only; 204,800-token context
    Family("minimax-m2*", vision=False, context_window=204_800, source="platform.minimax.io"),
    # Qwen3 Coder (qwen.ai): text only; 256K context
    Family("qwen3-coder*", vision=False, context_window=262_144, source="qwenlm.github.io"),
    # OpenAI (platform.openai.com/docs/models): image input on all of these
    Family("gpt-4o*", vision=True, context_window=128_000, max_output=16_384,
           source="platform.openai.com/docs/models/gpt-4o"),
    Family("gpt-4.1*", vision=True, context_window=1_047_576, max_output=32_768,
           source="platform.openai.com/docs/models/gpt-4.1"),
    Family("gpt-5*", vision=True, context_window=400_000, max_output=128_000,
           source="platform.openai.com/docs/models/gpt-5"),
    Family("o3*", vision=True, context_window=200_000, max_output=100_000,
           source="platform.openai.com/docs/models/o3"),
    Family("o4-mini*", vision=True, context_window=200_000, max_output=100_000,
           source="platform.openai.com/docs/models/o4-mini"),
    # Gemini 2.5 (ai.google.dev/gemini-api/docs/models): multimodal, 1M in, 64K out
    Family("gemini-2.5-*", vision=True, context_window=1_048_576, max_output=65_536,
           source="ai.google.dev/gemini-api/docs/models"),
    # Claude (docs.anthropic.com "Models overview"): every current model sees; 200K context
    # (ccm.claude.catalogue has the 1M ones of Claude Code's own table)
    Family("claude-*", vision=True, context_window=200_000, source="docs.anthropic.com models"),
)  # fmt: skip


def family(model: str) -> Family | None:
    name = model.rsplit("/", 1)[-1].lower()
    for fam in MODEL_FAMILIES:
        if fnmatch.fnmatchcase(name, fam.pattern):
            return fam
    return None


@dataclass(frozen=True, slots=True)
class Capabilities:
    vision: bool
    context_window: int | None
    max_output: int | None
    web_search: bool
    # where vision / context_window / web_search came from, for `ccm explain`
    vision_from: str = "unknown (assumed)"
    window_from: str = ""
    search_from: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "vision": self.vision,
            "context_window": self.context_window,
            "max_output": self.max_output,
            "web_search": self.web_search,
            "vision_from": self.vision_from,
        }


UNKNOWN = Capabilities(True, None, None, False)


def _claude_window(model: str) -> int | None:
    """Claude Code's own table knows which Claude ids read 1M tokens."""
    from ccm.claude.catalogue import claude_model

    known = claude_model(model.rsplit("/", 1)[-1].lower())
    return known.context_window if known else None


def capabilities(
    provider: ProviderConfig | None, model: str, mapping: Mapping | None = None
) -> Capabilities:
    """The capabilities of `model` at `provider` (None: an unknown provider)."""
    if provider is None or registry.preset(provider.provider_type) is None:
        return UNKNOWN
    base = registry.quirks_for(provider)
    own = provider.quirks or {}
    fam = family(model)
    fam_from = f"model data: {fam.pattern} ({fam.source})" if fam else ""
    typed = f"provider type {provider.provider_type}"

    def pick(
        mapped: object, quirk: str, fam_value: object, type_value: object
    ) -> tuple[object, str]:
        if mapped is not None:
            return mapped, "mapping"
        if quirk in own:
            return own[quirk], f"provider {provider.name!r} quirks"
        if fam_value is not None:
            return fam_value, fam_from
        if type_value is not None:
            return type_value, typed
        return None, ""

    vision, vision_from = pick(
        mapping.vision if mapping else None,
        "images",
        fam.vision if fam else None,
        None if base.images else False,  # the type's default (True) is no knowledge
    )
    window, window_from = pick(
        mapping.context_window if mapping else None,
        "context_window",
        _claude_window(model) or (fam.context_window if fam else None),
        base.context_window,
    )
    output, _ = pick(
        mapping.max_tokens if mapping else None,
        "max_output_tokens",
        fam.max_output if fam else None,
        base.max_output_tokens,
    )
    search = searches(base, model)
    return Capabilities(
        vision=vision is not False,
        context_window=window if isinstance(window, int) else None,
        max_output=output if isinstance(output, int) else None,
        web_search=search,
        vision_from=vision_from or "unknown (assumed)",
        window_from=window_from,
        search_from=f"{typed}: web_search = {base.web_search!r}",
    )


__all__ = ["MODEL_FAMILIES", "Capabilities", "Family", "capabilities", "family", "searches"]
