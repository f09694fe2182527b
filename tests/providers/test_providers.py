"""Provider presets: every claude-code-mux type, base URLs, base_url overrides, auth headers."""

from __future__ import annotations

import pytest

from ccm.config.schema import ProviderConfig, ServerConfig, Timeouts
from ccm.config.secrets import MissingSecret
from ccm.providers.client import ProviderClient, limits
from ccm.providers.presets import PRESETS

MUX_TYPES = {
    "anthropic": "https://api.anthropic.com",
    "z.ai": "https://api.z.ai/api/anthropic",
    "minimax": "https://api.minimax.io/anthropic",
    "zenmux": "https://zenmux.ai/api/anthropic",
    "kimi-coding": "https://api.kimi.com/coding",
    "openai": "https://api.openai.com/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "deepinfra": "https://api.deepinfra.com/v1/openai",
    "novita": "https://api.novita.ai/v3/openai",
    "baseten": "https://inference.baseten.co/v1",
    "together": "https://api.together.xyz/v1",
    "fireworks": "https://api.fireworks.ai/inference/v1",
    "groq": "https://api.groq.com/openai/v1",
    "nebius": "https://api.studio.nebius.ai/v1",
    "cerebras": "https://api.cerebras.ai/v1",
    "moonshot": "https://api.moonshot.cn/v1",
    "gemini": "https://generativelanguage.googleapis.com/v1beta",
}


@pytest.mark.parametrize(("ptype", "base"), sorted(MUX_TYPES.items()))
def test_every_mux_type_with_its_base_url(ptype: str, base: str) -> None:
    assert PRESETS[ptype].base_url == base


def test_additions_exist() -> None:
    for t in ("deepseek", "ollama", "openai-compatible", "anthropic-compatible", "vertex-ai"):
        assert t in PRESETS


def _client(ptype: str, **kw) -> ProviderClient:
    return ProviderClient(
        ProviderConfig(name="p", provider_type=ptype, api_key="sk-1", **kw), ServerConfig()
    )


@pytest.mark.parametrize("ptype", sorted(t for t in PRESETS if PRESETS[t].dialect != "gemini"))
def test_base_url_is_honoured_for_every_type(ptype: str) -> None:
    c = _client(ptype, base_url="http://127.0.0.1:9/custom/")
    url = c.url("messages") if c.dialect == "anthropic" else c.url("chat")
    assert url.startswith("http://127.0.0.1:9/custom/")
    assert "//v1" not in url.replace("http://", "")


def test_url_joining_does_not_double_slashes_or_v1() -> None:
    assert (
        _client("anthropic", base_url="https://api.kimi.com/coding/").url("messages")
        == "https://api.kimi.com/coding/v1/messages"
    )
    assert (
        _client("anthropic", base_url="https://x.test/v1").url("messages")
        == "https://x.test/v1/messages"
    )
    assert _client("openai").url("chat") == "https://api.openai.com/v1/chat/completions"


def test_auth_headers_per_style(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _client("anthropic").auth_headers() == {"x-api-key": "sk-1"}
    assert _client("groq").auth_headers() == {"authorization": "Bearer sk-1"}
    assert _client("gemini").auth_headers() == {"x-goog-api-key": "sk-1"}
    monkeypatch.setenv("MY_KEY", "sk-env")
    c = ProviderClient(
        ProviderConfig(name="p", provider_type="z.ai", api_key="$MY_KEY"), ServerConfig()
    )
    assert c.auth_headers() == {"x-api-key": "sk-env"}
    assert c.config.api_key == "$MY_KEY"  # the reference stays a reference
    monkeypatch.delenv("MY_KEY")
    with pytest.raises(MissingSecret, match=r"\$MY_KEY"):
        c.auth_headers()
    ollama = ProviderClient(ProviderConfig(name="o", provider_type="ollama"), ServerConfig())
    assert ollama.auth_headers() == {}


def test_timeouts_server_then_provider_override() -> None:
    server = ServerConfig(timeouts=Timeouts(api_timeout_ms=1000, connect_timeout_ms=200))
    p = ProviderConfig(name="p", provider_type="openai", timeouts=Timeouts(connect_timeout_ms=50))
    lim = limits(server, p)
    assert (lim.total, lim.connect) == (1.0, 0.05)
    assert lim.first_byte == 120.0 and lim.idle == 300.0
