"""Sign-in through the admin API against a fake OAuth server (state checked, no verifier
in answers, escaped callback page)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.fakes.oauth_server import FakeOAuthServer
from tests.harness import running_ccm
from tests.proxy_setup import write_config


def test_admin_oauth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCM_OAUTH_TOKENS", str(tmp_path / "tok.json"))
    with FakeOAuthServer(client_id="cid", client_secret="sec") as fake:
        for f in ("GOOGLE", "CLAUDE_MAX"):
            monkeypatch.setenv(f"CCM_OAUTH_{f}_CLIENT_ID", "cid")
            monkeypatch.setenv(f"CCM_OAUTH_{f}_AUTHORIZE_URL", fake.authorize_url)
            monkeypatch.setenv(f"CCM_OAUTH_{f}_TOKEN_URL", fake.token_url)
        monkeypatch.setenv("CCM_OAUTH_GOOGLE_CLIENT_SECRET", "sec")
        monkeypatch.setenv("CCM_OAUTH_CLAUDE_MAX_CLIENT_SECRET", "sec")
        monkeypatch.setenv("CCM_OAUTH_GOOGLE_CODE_ASSIST_URL", fake.code_assist_url)
        cfg = write_config(tmp_path / "config.toml", "")
        with (
            running_ccm(cfg) as running,
            httpx.Client(base_url=running.base_url, trust_env=False) as c,
        ):
            r = c.post("/api/oauth/authorize", json={"oauth_type": "gemini", "provider_id": "gem"})
            assert r.status_code == 200, r.text
            body = r.json()
            assert "verifier" not in body and body["paste"] is False
            code, state, location = fake.authorize(body["url"])
            assert location.startswith(running.base_url + "/api/oauth/callback?")
            page = c.get(location)
            assert page.status_code == 200 and "Signed in" in page.text, page.text
            assert page.headers["content-security-policy"].startswith("default-src 'none'")
            again = c.get(location)
            assert again.status_code == 400
            toks = c.get("/api/oauth/tokens").json()
            assert toks[0]["provider_id"] == "gem" and toks[0]["project_id"] == "fake-project"
            assert "access_token" not in r.text + str(toks)
            r = c.post("/api/oauth/tokens/refresh", json={"provider_id": "gem"})
            assert r.status_code == 200, r.text
            assert fake.refresh_calls == 1
            xss = c.get("/api/oauth/callback", params={"error": "<script>x</script>", "state": "s"})
            assert xss.status_code == 400 and "<script" not in xss.text
            # paste flow
            r = c.post(
                "/api/oauth/authorize", json={"oauth_type": "max", "provider_id": "cl"}
            ).json()
            code, state, _ = fake.authorize(r["url"])
            bad = c.post("/api/oauth/exchange", json={"state": r["state"], "code": f"{code}#evil"})
            assert bad.status_code == 400 and "state mismatch" in bad.text
            ok = c.post(
                "/api/oauth/exchange", json={"state": r["state"], "code": f"{code}#{state}"}
            )
            assert ok.status_code == 200 and ok.json()["provider_id"] == "cl", ok.text
            d = c.post("/api/oauth/tokens/delete", json={"provider_id": "cl"})
            assert d.status_code == 200
            assert c.post("/api/oauth/tokens/delete", json={"provider_id": "cl"}).status_code == 404
