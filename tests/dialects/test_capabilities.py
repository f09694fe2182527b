"""Capability data per model behind a provider: the mapping, then the provider's own quirks,
then the model data, then the type's quirks; and which providers can run web search."""

from __future__ import annotations

import pytest

from ccm.config.load import parse_config
from ccm.config.schema import Mapping, ProviderConfig
from ccm.diagnostics import DiagnosticError
from ccm.dialects.capabilities import MODEL_FAMILIES, capabilities, family, searches
from ccm.dialects.registry import PRESETS
from tests.proxy_setup import model_toml, provider


def _p(ptype: str, **kw: object) -> ProviderConfig:
    return ProviderConfig(name="p", provider_type=ptype, **kw)  # type: ignore[arg-type]


def test_model_data_by_family_and_path() -> None:
    caps = capabilities(_p("openrouter"), "z-ai/glm-4.6")
    assert (caps.vision, caps.context_window) == (False, 200_000)
    assert "glm-4.6" in caps.vision_from
    assert capabilities(_p("z.ai"), "glm-4.5v").vision is True
    assert capabilities(_p("openai"), "gpt-4o").max_output == 16_384


def test_claude_windows_from_claude_codes_table() -> None:
    assert capabilities(_p("anthropic"), "claude-opus-4-8").context_window == 1_000_000
    assert capabilities(_p("anthropic"), "claude-haiku-4-5").context_window == 200_000
    assert capabilities(_p("anthropic"), "claude-opus-4-8").vision is True


def test_type_quirks_when_the_model_is_unknown() -> None:
    ds = capabilities(_p("deepseek"), "some-new-deepseek")
    assert (ds.vision, ds.context_window) == (False, 128_000)
    assert ds.vision_from == "provider type deepseek"
    unknown = capabilities(_p("openai-compatible", base_url="http://x"), "mystery")
    assert (unknown.vision, unknown.context_window, unknown.max_output) == (True, None, None)
    assert unknown.vision_from == "unknown (assumed)"


def test_precedence_mapping_then_provider_quirks_then_model_data() -> None:
    mapping = Mapping(provider="p", actual_model="glm-4.6", vision=True, context_window=64_000)
    caps = capabilities(_p("z.ai"), "glm-4.6", mapping)
    assert (caps.vision, caps.context_window, caps.vision_from) == (True, 64_000, "mapping")
    own = _p("ollama", quirks={"context_window": 32_768, "images": False})
    caps = capabilities(own, "qwen3-coder:30b")  # the model data says 256K; the server says less
    assert (caps.context_window, caps.vision) == (32_768, False)
    assert caps.vision_from == "provider 'p' quirks"
    capped = Mapping(provider="p", actual_model="deepseek-chat", max_tokens=4_000)
    assert capabilities(_p("deepseek"), "deepseek-chat", capped).max_output == 4_000
    assert capabilities(_p("deepseek"), "deepseek-chat").max_output == 8_192


@pytest.mark.parametrize(
    ("ptype", "model", "can"),
    [
        ("anthropic", "claude-sonnet-4-5", True),
        ("z.ai", "glm-4.6", True),  # passed through: the vendor decides
        ("openai-responses", "gpt-5", True),
        ("openai", "gpt-4o-search-preview", True),
        ("openai", "gpt-5-search-api", True),
        ("openai", "gpt-4o", False),  # Chat Completions searches only on search models
        ("openrouter", "moonshotai/kimi-k2", True),
        ("gemini", "gemini-2.5-flash", True),
        ("deepseek", "deepseek-chat", False),
        ("groq", "llama-3.3-70b", False),
    ],
)
def test_who_can_search(ptype: str, model: str, can: bool) -> None:
    assert capabilities(_p(ptype), model).web_search is can
    assert searches(PRESETS[ptype].quirks, model) is can


def test_a_provider_can_be_told_it_cannot_search() -> None:
    assert capabilities(_p("z.ai", quirks={"web_search": "none"}), "glm-4.6").web_search is False


def test_every_family_pattern_matches_something_and_has_a_source() -> None:
    for fam in MODEL_FAMILIES:
        assert fam.source, fam.pattern
    assert family("GLM-4.6") is not None and family("unknown-model") is None


def test_mapping_capability_fields_load_and_are_checked() -> None:
    def text(**fields: object) -> str:
        data = {"vision": True, "context_window": 100_000, "max_tokens": 16_000, **fields}
        return provider("z", "z.ai", api_key="k") + model_toml("m", ("z", "glm-4.6", data))

    mp = parse_config(text()).config.models[0].mappings[0]
    assert (mp.vision, mp.context_window, mp.max_tokens) == (True, 100_000, 16_000)
    with pytest.raises(DiagnosticError, match="context_window"):
        parse_config(text(context_window=0))
    with pytest.raises(DiagnosticError, match="vision"):
        parse_config(text(vision="yes"))
