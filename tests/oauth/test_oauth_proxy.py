"""An OAuth provider through the proxy: token refreshed once, Bearer + oauth beta upstream,
no token -> failover."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ccm.oauth import TokenRecord, TokenStore
from ccm.oauth.store import format_time
from tests.fakes.oauth_server import FakeOAuthServer
from tests.fakes.upstream import FakeUpstream, reply_text
from tests.harness import running_ccm
from tests.proxy_setup import model_toml, provider, sdk, write_config


def seed(
    tokens: Path, pid: str, access: str, refresh: str, left: timedelta, flow: str, **kw: str
) -> None:
    """A token for `pid` in the token file, expiring in `left`."""
    expires = format_time(datetime.now(UTC) + left)
    record = TokenRecord(pid, access, refresh, expires, flow=flow, **kw)
    TokenStore(tokens).save(record)


def oauth_provider(name: str, provider_type: str, signed_in_as: str, base_url: str) -> str:
    return provider(
        name, provider_type, auth_type="oauth", oauth_provider=signed_in_as, base_url=base_url
    )


def test_oauth_provider_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = tmp_path / "tok.json"
    monkeypatch.setenv("CCM_OAUTH_TOKENS", str(tokens))
    with (
        FakeOAuthServer(client_id="cid") as fake,
        FakeUpstream("anthropic") as up,
        FakeUpstream("anthropic") as backup,
    ):
        monkeypatch.setenv("CCM_OAUTH_CLAUDE_MAX_CLIENT_ID", "cid")
        monkeypatch.setenv("CCM_OAUTH_CLAUDE_MAX_TOKEN_URL", fake.token_url)
        seed(
            tokens,
            "claude-pro",
            "at-old",
            fake.issue_refresh_token(),
            timedelta(minutes=1),
            "claude-max",
        )
        cfg = write_config(
            tmp_path / "config.toml",
            oauth_provider("max", "anthropic", "claude-pro", up.base_url)
            + oauth_provider("nologin", "anthropic", "nobody", backup.base_url)
            + model_toml("main", ("max", "claude-up-1"))
            + model_toml("other", ("nologin", "x"), ("max", "claude-up-2")),
            router='default = "main"\nauto_map_regex = "^claude-"',
        )
        with running_ccm(cfg) as running:
            up.script(reply_text("hi"), reply_text("hi2"))
            c = sdk(running.base_url)
            c.messages.create(
                model="claude-sonnet-4-5",
                max_tokens=10,
                messages=[{"role": "user", "content": "hi"}],
                extra_headers={"anthropic-beta": "context-1m-2025-08-07"},
            )
            (req,) = up.requests
            assert fake.refresh_calls == 1
            assert req.headers["authorization"].startswith("Bearer at-")
            assert req.headers["authorization"] != "Bearer at-old"
            assert req.headers["anthropic-beta"] == "context-1m-2025-08-07,oauth-2025-04-20"
            assert "x-api-key" not in req.headers
            raw = c.messages.with_raw_response.create(
                model="other", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )
            assert backup.requests == []
            print(raw.headers.get("x-ccm-route"), raw.headers.get("x-ccm-attempts"))
            assert fake.refresh_calls == 1


def test_chatgpt_sign_in_goes_to_the_codex_responses_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.responses_upstream import FakeResponsesUpstream
    from tests.fakes.responses_upstream import reply_text as responses_text

    tokens = tmp_path / "tok.json"
    monkeypatch.setenv("CCM_OAUTH_TOKENS", str(tokens))
    seed(tokens, "chatgpt-plus", "at-chatgpt", "rt", timedelta(hours=2), "chatgpt")
    with FakeResponsesUpstream(codex_rules=True) as up:
        up.default = responses_text("from codex")
        cfg = write_config(
            tmp_path / "config.toml",
            oauth_provider("chatgpt", "openai", "chatgpt-plus", f"{up.codex_base_url}/codex")
            + model_toml("gpt", ("chatgpt", "gpt-5-codex")),
            router='default = "gpt"',
        )
        with running_ccm(cfg) as running:
            c = sdk(running.base_url)
            msg = c.messages.create(
                model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
            )
            assert msg.content[0].text == "from codex"
        (req,) = up.requests
        assert req.path == "/backend-api/codex/responses"
        assert req.headers["authorization"] == "Bearer at-chatgpt"
        assert req.json["stream"] is True and req.json["store"] is False  # the backend's rules
        assert up.refusals == []


def test_google_sign_in_goes_to_code_assist_with_wrapped_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json as _json

    from tests.fakes.upstream import respond

    tokens = tmp_path / "tok.json"
    monkeypatch.setenv("CCM_OAUTH_TOKENS", str(tokens))
    seed(
        tokens, "google-ai", "at-google", "rt", timedelta(hours=2), "google", project_id="proj-123"
    )
    answer = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "from code assist"}]},
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 3},
    }
    sse = b"data: " + _json.dumps({"response": answer, "traceId": "t"}).encode() + b"\r\n\r\n"
    with FakeUpstream("openai") as up:
        up.script(
            respond(
                lambda _r: (
                    200,
                    {"content-type": "application/json"},
                    _json.dumps({"response": answer, "traceId": "t"}).encode(),
                )
            ),
            path="/v1internal:generateContent",
        )
        up.script(
            respond(lambda _r: (200, {"content-type": "text/event-stream"}, [sse])),
            path="/v1internal:streamGenerateContent",
        )
        cfg = write_config(
            tmp_path / "config.toml",
            oauth_provider("gem", "gemini", "google-ai", f"{up.base_url}/v1internal")
            + model_toml("g", ("gem", "gemini-2.5-pro")),
            router='default = "g"',
        )
        with running_ccm(cfg) as running:
            c = sdk(running.base_url)
            msg = c.messages.create(
                model="claude-x", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
            )
            assert msg.content[0].text == "from code assist" and msg.usage.input_tokens == 7
            with c.messages.stream(
                model="claude-x", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
            ) as s:
                assert "".join(s.text_stream) == "from code assist"
        first, second = up.requests
        assert (
            first.path == "/v1internal:generateContent"
            and second.path == "/v1internal:streamGenerateContent?alt=sse"
        )
        assert first.headers["authorization"] == "Bearer at-google"
        assert first.json["model"] == "gemini-2.5-pro" and first.json["project"] == "proj-123"
        assert first.json["request"]["contents"][0]["parts"][0]["text"] == "hi"
