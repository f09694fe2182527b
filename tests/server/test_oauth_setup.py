"""A sign-in flow this ccm cannot start (no client id in its environment): the admin API says
what to set and why, in the message and as data, instead of a bare 400."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.harness import running_ccm
from tests.proxy_setup import write_config

FLOW_VARS = ("CLAUDE_MAX", "CLAUDE_CONSOLE", "CHATGPT", "GOOGLE")


@pytest.fixture
def no_client_ids(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CCM_OAUTH_TOKENS", str(tmp_path / "tok.json"))
    for f in FLOW_VARS:
        monkeypatch.delenv(f"CCM_OAUTH_{f}_CLIENT_ID", raising=False)
        monkeypatch.delenv(f"CCM_OAUTH_{f}_CLIENT_SECRET", raising=False)


def test_authorize_without_a_client_id_says_what_to_set_and_why(
    tmp_path: Path, no_client_ids: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCM_OAUTH_GOOGLE_CLIENT_ID", "gid")  # google still lacks its secret
    cfg = write_config(tmp_path / "config.toml", "")
    with running_ccm(cfg) as running, httpx.Client(base_url=running.base_url) as c:
        r = c.post("/api/oauth/authorize", json={"flow": "claude-max", "provider_id": "cl"})
        assert r.status_code == 400
        body = r.json()
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
        message = body["error"]["message"]
        assert "set CCM_OAUTH_CLAUDE_MAX_CLIENT_ID" in message
        assert "ccm ships no client ids" in message and "Claude Code" in message
        assert "restart ccm" in message
        assert 'auth_type = "client"' in message  # what works without one
        setup = body["setup"]
        assert setup["set"] == ["CCM_OAUTH_CLAUDE_MAX_CLIENT_ID"] and setup["restart"] is True
        assert setup["ready"] is False and setup["client_of"] == "Claude Code"

        r = c.post("/api/oauth/authorize", json={"oauth_type": "gemini", "provider_id": "g"})
        assert r.status_code == 400
        assert r.json()["setup"]["set"] == ["CCM_OAUTH_GOOGLE_CLIENT_SECRET"]
        assert "ccm login --import" in r.json()["error"]["message"]

        flows = {f["flow"]: f for f in c.get("/api/oauth/flows").json()}
        assert set(flows) == {"claude-max", "claude-console", "chatgpt", "google"}
        assert flows["chatgpt"]["set"] == ["CCM_OAUTH_CHATGPT_CLIENT_ID"]
        assert flows["chatgpt"]["message"].startswith("OAuth flow 'chatgpt'")
        # other errors keep their plain shape, and the server keeps serving
        r = c.post("/api/oauth/authorize", json={"flow": "myspace", "provider_id": "x"})
        assert r.status_code == 400 and "setup" not in r.json()
        assert "unknown OAuth flow" in r.json()["error"]["message"]


def test_a_flow_with_its_client_is_ready(
    tmp_path: Path, no_client_ids: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCM_OAUTH_CHATGPT_CLIENT_ID", "cid")
    cfg = write_config(tmp_path / "config.toml", "")
    with running_ccm(cfg) as running, httpx.Client(base_url=running.base_url) as c:
        flows = {f["flow"]: f for f in c.get("/api/oauth/flows").json()}
        assert flows["chatgpt"] == {**flows["chatgpt"], "ready": True, "set": [], "message": ""}
        r = c.post("/api/oauth/authorize", json={"flow": "chatgpt", "provider_id": "gpt"})
        assert r.status_code == 200 and r.json()["url"].startswith("https://auth.openai.com/")
