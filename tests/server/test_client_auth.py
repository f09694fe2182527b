"""`auth_type = "client"` end to end: ccm forwards the client's own credential (Claude Code's
Pro/Max sign-in as `Authorization: Bearer`, or its `x-api-key`) to an Anthropic-dialect
upstream and no configured key; other routes keep their own keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import pytest

from tests.fakes.upstream import FakeUpstream, reply_text
from tests.harness import RunningCCM, running_ccm
from tests.proxy_setup import model_toml, provider, provider_toml, upstream_fixture, write_config

OAUTH_TOKEN = "sk-ant-oat01-client-own-token"  # what a Pro/Max sign-in sends
CLIENT_KEY = "sk-ant-api03-client-own-key"
AUTH_HEADERS = ("authorization", "x-api-key", "x-goog-api-key")


claude = upstream_fixture("anthropic")
other = upstream_fixture("openai")


@pytest.fixture(params=["fast-path", "litestar"])
def ccm(
    request: pytest.FixtureRequest, tmp_path: Path, claude: FakeUpstream, other: FakeUpstream
) -> Iterator[RunningCCM]:
    """claude-* goes to the client-auth provider; `glm` to a keyed OpenAI-dialect one."""
    cfg = write_config(
        tmp_path / "config.toml",
        provider(
            "claude-sub",
            "anthropic",
            auth_type="client",
            base_url=claude.base_url,
            models=["claude-*"],
        )
        + provider_toml("other", other, key="sk-other-configured")
        + model_toml("glm", ("other", "glm-4.6")),
        router="",
    )
    with running_ccm(cfg, fast_path=request.param == "fast-path") as running:
        yield running


def _auth(recorded_headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in recorded_headers.items() if k in AUTH_HEADERS}


def test_bearer_sign_in_reaches_the_upstream_exactly(ccm: RunningCCM, claude: FakeUpstream) -> None:
    claude.script(reply_text("hi from claude"))
    client = anthropic.Anthropic(
        base_url=ccm.base_url,
        auth_token=OAUTH_TOKEN,
        default_headers={"anthropic-beta": "oauth-2025-04-20,claude-code-20250219"},
        max_retries=0,
    )
    msg = client.messages.create(
        model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content[0].text == "hi from claude"
    (req,) = claude.requests
    assert _auth(req.headers) == {"authorization": f"Bearer {OAUTH_TOKEN}"}
    # the client's beta flags as they came: ccm adds nothing of its own to a forwarded sign-in
    assert req.headers["anthropic-beta"] == "oauth-2025-04-20,claude-code-20250219"


def test_api_key_reaches_the_upstream_exactly_stream_too(
    ccm: RunningCCM, claude: FakeUpstream
) -> None:
    """As Claude Code sends ANTHROPIC_API_KEY (the anthropic SDK sends keys as Bearer)."""
    claude.script(reply_text("streamed"))
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    with httpx.stream(
        "POST", f"{ccm.base_url}/v1/messages", headers={"x-api-key": CLIENT_KEY}, json=body
    ) as r:
        text = r.read().decode()
    assert r.status_code == 200
    assert text.count("event: content_block_delta") >= 1 and "event: message_stop" in text
    (req,) = claude.requests
    assert _auth(req.headers) == {"x-api-key": CLIENT_KEY}


def test_count_tokens_forwards_the_same_credential(ccm: RunningCCM, claude: FakeUpstream) -> None:
    r = httpx.post(
        f"{ccm.base_url}/v1/messages/count_tokens",
        headers={"authorization": f"Bearer {OAUTH_TOKEN}"},
        json={"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status_code == 200, r.text
    (req,) = claude.requests
    assert req.url_path == "/v1/messages/count_tokens"
    assert _auth(req.headers) == {"authorization": f"Bearer {OAUTH_TOKEN}"}


def test_other_routes_keep_their_key_and_never_see_the_client_credential(
    ccm: RunningCCM, claude: FakeUpstream, other: FakeUpstream
) -> None:
    other.script(reply_text("from glm"))
    client = anthropic.Anthropic(base_url=ccm.base_url, auth_token=OAUTH_TOKEN, max_retries=0)
    msg = client.messages.create(
        model="glm", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content[0].text == "from glm"
    assert not claude.requests
    (req,) = other.requests
    assert _auth(req.headers) == {"authorization": "Bearer sk-other-configured"}
    assert OAUTH_TOKEN.encode() not in req.body


def test_no_client_credential_is_an_anthropic_error_naming_why(
    ccm: RunningCCM, claude: FakeUpstream
) -> None:
    r = httpx.post(
        f"{ccm.base_url}/v1/messages",
        json={
            "model": "claude-sonnet-4-5",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert r.status_code == 401, r.text
    assert r.headers["x-should-retry"] == "false"
    err = r.json()
    assert err["type"] == "error"
    assert 'auth_type = "client"' in err["error"]["message"]
    assert not claude.requests
    # and ccm keeps serving
    claude.script(reply_text("ok"))
    r = httpx.post(
        f"{ccm.base_url}/v1/messages",
        headers={"x-api-key": CLIENT_KEY},
        json={
            "model": "claude-sonnet-4-5",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert r.status_code == 200


def test_an_upstream_refusal_of_the_client_credential_is_not_logged(
    ccm: RunningCCM, claude: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.fakes.upstream import status

    claude.script(status(401), status(401))  # and the retry pass
    r = httpx.post(
        f"{ccm.base_url}/v1/messages",
        headers={"authorization": f"Bearer {OAUTH_TOKEN}"},
        json={
            "model": "claude-sonnet-4-5",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert r.status_code == 401
    assert OAUTH_TOKEN not in r.text
    assert OAUTH_TOKEN not in caplog.text
