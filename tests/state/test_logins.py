"""OAuth sign-ins in progress where every worker or instance finds them: started through one
LoginManager, finished through another (as a callback landing on another worker would be),
once; in a 0600 file beside the token file, or in Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccm.oauth import OAuthError, TokenStore
from ccm.oauth.login import LoginManager, RedisLogins, SharedLogins
from tests.fakes.oauth_server import FakeOAuthServer
from tests.fakes.redis_server import RedisServer


@pytest.mark.parametrize("where", ["file", "redis"])
async def test_a_sign_in_started_on_one_worker_finishes_on_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    tokens = TokenStore(tmp_path / "tokens.json")
    with FakeOAuthServer(client_id="cid") as oauth, RedisServer(tmp_path / "redis") as redis:
        monkeypatch.setenv("CCM_OAUTH_CLAUDE_MAX_CLIENT_ID", "cid")
        monkeypatch.setenv("CCM_OAUTH_CLAUDE_MAX_AUTHORIZE_URL", oauth.authorize_url)
        monkeypatch.setenv("CCM_OAUTH_CLAUDE_MAX_TOKEN_URL", oauth.token_url)
        one, two = LoginManager(tokens), LoginManager(tokens)
        for m in (one, two):
            m.shared = (
                SharedLogins(tmp_path / "tokens.json.logins")
                if where == "file"
                else RedisLogins(redis.url)
            )
        session = one.start("max", "acct")
        code, state, _ = oauth.authorize(session.url)
        assert two.pending(state)
        record = await two.finish(state, f"{code}#{state}")
        assert record.provider_id == "acct" and tokens.get("acct") is not None
        assert not one.pending(state)
        with pytest.raises(OAuthError, match="unknown or already used"):
            await one.finish(state, f"{code}#{state}")
        if where == "file":
            path = tmp_path / "tokens.json.logins"
            assert (path.stat().st_mode & 0o777) == 0o600
            assert "verifier" not in path.read_text()  # used: gone from the file
