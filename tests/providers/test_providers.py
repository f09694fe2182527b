"""Provider presets: every claude-code-mux type, base URLs, base_url overrides, credentials
and how each dialect writes them."""

from __future__ import annotations

import pytest

from ccm.config.schema import ProviderConfig, ServerConfig, Timeouts
from ccm.config.secrets import MissingSecret
from ccm.dialects.base import NO_CREDENTIAL, Credential, Job
from ccm.dialects.registry import PRESETS
from ccm.providers.client import ProviderClient, limits

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
JOB = Job(
    {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}, {}, False, "m"
)


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


def _url(c: ProviderClient, model: str = "m") -> str:
    return c.dialect.build(JOB, c.target(model), Credential("k")).url


@pytest.mark.parametrize("ptype", sorted(PRESETS))
def test_base_url_is_honoured_for_every_type(ptype: str) -> None:
    url = _url(_client(ptype, base_url="http://127.0.0.1:9/custom/"))
    assert url.startswith("http://127.0.0.1:9/custom/")
    assert "//v1" not in url.replace("http://", "")


def test_url_joining_does_not_double_slashes_or_v1() -> None:
    assert (
        _url(_client("anthropic", base_url="https://api.kimi.com/coding/"))
        == "https://api.kimi.com/coding/v1/messages"
    )
    assert _url(_client("anthropic", base_url="https://x.test/v1")) == "https://x.test/v1/messages"
    assert _url(_client("openai")) == "https://api.openai.com/v1/chat/completions"
    assert _url(_client("openai-responses")) == "https://api.openai.com/v1/responses"
    assert _url(_client("gemini"), "g-2") == (
        "https://generativelanguage.googleapis.com/v1beta/models/g-2:generateContent"
    )
    vertex = _client("vertex-ai", project_id="p1", location="europe-west4")
    assert _url(vertex, "g") == (
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/p1/locations/europe-west4"
        "/publishers/google/models/g:generateContent"
    )
    streamed = Job(JOB.body, {}, True, "m")
    glob = _client("vertex-ai", project_id="p1", location="global")
    assert glob.dialect.build(streamed, glob.target("g"), Credential("t", "token")).url == (
        "https://aiplatform.googleapis.com/v1/projects/p1/locations/global"
        "/publishers/google/models/g:streamGenerateContent?alt=sse"
    )


def _auth(c: ProviderClient, credential: Credential) -> dict[str, str]:
    headers = c.dialect.build(JOB, c.target("m"), credential).headers
    return {
        k: v for k, v in headers.items() if k in ("x-api-key", "authorization", "x-goog-api-key")
    }


async def test_credentials_and_auth_headers_per_style(monkeypatch: pytest.MonkeyPatch) -> None:
    for ptype, expected in (
        ("anthropic", {"x-api-key": "sk-1"}),
        ("groq", {"authorization": "Bearer sk-1"}),
        ("gemini", {"x-goog-api-key": "sk-1"}),
    ):
        c = _client(ptype)
        assert _auth(c, await c.credential()) == expected
    monkeypatch.setenv("MY_KEY", "sk-env")
    c = ProviderClient(
        ProviderConfig(name="p", provider_type="z.ai", api_key="$MY_KEY"), ServerConfig()
    )
    assert await c.credential() == Credential("sk-env", "key")
    assert c.config.api_key == "$MY_KEY"  # the reference stays a reference
    monkeypatch.delenv("MY_KEY")
    with pytest.raises(MissingSecret, match=r"\$MY_KEY"):
        await c.credential()
    ollama = ProviderClient(ProviderConfig(name="o", provider_type="ollama"), ServerConfig())
    assert await ollama.credential() == NO_CREDENTIAL
    assert _auth(ollama, NO_CREDENTIAL) == {}
    # a token (OAuth, Google ADC) is a Bearer whatever the type's key style
    assert _auth(_client("gemini"), Credential("t", "token")) == {"authorization": "Bearer t"}


def test_timeouts_server_then_provider_override() -> None:
    server = ServerConfig(timeouts=Timeouts(api_timeout_ms=1000, connect_timeout_ms=200))
    p = ProviderConfig(name="p", provider_type="openai", timeouts=Timeouts(connect_timeout_ms=50))
    lim = limits(server, p)
    assert (lim.total, lim.connect) == (1.0, 0.05)
    assert lim.first_byte == 120.0 and lim.idle == 300.0


def test_quirks_overrides_from_the_config(tmp_path) -> None:
    from ccm.config.load import parse_config
    from ccm.diagnostics import DiagnosticError

    good = '[[providers]]\nname = "v"\nprovider_type = "openai-compatible"\nbase_url = "http://x/v1"\n[providers.quirks]\necho_reasoning = true\nmax_stop_sequences = 16\n'
    c = ProviderClient(parse_config(good, tmp_path / "c.toml").config.providers[0], ServerConfig())
    assert c.quirks.echo_reasoning and c.quirks.max_stop_sequences == 16
    assert not PRESETS["openai-compatible"].quirks.echo_reasoning  # the type's own is untouched
    for bad, words in (("nope = 1", "unknown quirk 'nope'"), ('images = "x"', "quirks:")):
        text = good.replace("echo_reasoning = true", bad)
        with pytest.raises(DiagnosticError, match=words):
            parse_config(text, tmp_path / "c.toml")
