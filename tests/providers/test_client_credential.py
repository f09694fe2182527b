"""`auth_type = "client"` at the credential seam and in config validation."""

from __future__ import annotations

import pytest

from ccm.config.load import parse_config
from ccm.config.schema import ProviderConfig, ServerConfig
from ccm.config.secrets import MissingSecret
from ccm.diagnostics import DiagnosticError
from ccm.dialects.base import Credential, Job
from ccm.providers.client import ProviderClient, forwarded_credential


def _client(**kw: object) -> ProviderClient:
    cfg = ProviderConfig(name="sub", provider_type="anthropic", auth_type="client", **kw)  # type: ignore[arg-type]
    return ProviderClient(cfg, ServerConfig())


def _job(headers: dict[str, str]) -> Job:
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    return Job(body, headers, False, "m")


@pytest.mark.parametrize(
    ("client_headers", "expected"),
    [
        ({"authorization": "Bearer sk-ant-oat01-x"}, {"authorization": "Bearer sk-ant-oat01-x"}),
        ({"authorization": "bearer tok"}, {"authorization": "Bearer tok"}),
        ({"x-api-key": "sk-ant-api03-y"}, {"x-api-key": "sk-ant-api03-y"}),
        # both: the key wins, as ccm's own client check reads them (and only one goes on)
        ({"x-api-key": "k", "authorization": "Bearer t"}, {"x-api-key": "k"}),
    ],
)
async def test_the_call_carries_exactly_the_client_credential(
    client_headers: dict[str, str], expected: dict[str, str]
) -> None:
    c = _client(api_key="sk-configured-never-sent")
    job = _job(client_headers)
    call = c.dialect.build(job, c.target("claude-x"), await c.credential(client_headers))
    auth = {k: v for k, v in call.headers.items() if k in ("authorization", "x-api-key")}
    assert auth == expected
    assert "sk-configured-never-sent" not in str(call.headers)
    # nothing of ccm's own is added to a forwarded sign-in (the oauth beta is the client's call)
    assert "anthropic-beta" not in call.headers


@pytest.mark.parametrize(
    "client_headers", [{}, {"authorization": "Basic abc"}, {"authorization": "Bearer  "}]
)
async def test_no_client_credential_means_this_provider_is_skipped(
    client_headers: dict[str, str],
) -> None:
    with pytest.raises(MissingSecret, match='auth_type = "client"'):
        await _client().credential(client_headers)


def test_forwarded_credential_records_where_it_came() -> None:
    assert forwarded_credential({"x-api-key": " k "}, "p") == Credential(
        "k", "client", header="x-api-key"
    )
    assert forwarded_credential({"authorization": "Bearer t"}, "p") == Credential(
        "t", "client", header="authorization"
    )


BASE = """
[[providers]]
name = "sub"
provider_type = "{ptype}"
auth_type = "client"
{extra}
"""


def test_client_auth_loads_on_an_anthropic_provider() -> None:
    loaded = parse_config(BASE.format(ptype="anthropic", extra=""))
    assert loaded.config.providers[0].auth_type == "client"
    assert not [d for d in loaded.warnings if "api_key" in d.message]


def test_client_auth_on_a_translated_provider_is_refused() -> None:
    with pytest.raises(DiagnosticError) as e:
        parse_config(BASE.format(ptype="openai", extra=""))
    assert "only an Anthropic-compatible provider" in str(e.value)
    assert ":5:" in str(e.value)  # the auth_type line


def test_client_auth_with_server_api_key_is_refused_with_the_way_out() -> None:
    text = '[server]\napi_key = "ccm-key"\n' + BASE.format(ptype="anthropic", extra="")
    with pytest.raises(DiagnosticError) as e:
        parse_config(text)
    message = str(e.value)
    assert "cannot be combined with [server] api_key" in message
    assert "Remove [server] api_key" in message
    assert "ccm-key" not in message  # the quoted line masks the key


def test_client_auth_with_an_api_key_warns_that_it_is_unused() -> None:
    loaded = parse_config(BASE.format(ptype="z.ai", extra='api_key = "$ZAI"'))
    assert any("never used" in d.message for d in loaded.warnings)


def test_unknown_auth_type_names_all_three() -> None:
    with pytest.raises(DiagnosticError, match='"apikey", "oauth" or "client"'):
        parse_config(BASE.format(ptype="anthropic", extra="").replace('"client"', '"clint"'))
