"""A pool of OAuth sign-ins (`oauth_providers`): a sign-in with no token is a configuration
fault (skipped, said once), a rate-limited one rests and the next serves, and each is shown by
its token id and fingerprint."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from ccm.config.schema import ProviderConfig, ServerConfig
from ccm.dispatch import dispatch
from ccm.oauth import TokenStore
from ccm.providers.client import ProviderClient
from ccm.rules.chain import ChainEntry
from ccm.state import LocalState
from tests.oauth.test_oauth_proxy import seed
from tests.test_dispatch import BODY, anthropic_message


async def test_oauth_pool(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tokens = tmp_path / "tokens.json"
    seed(tokens, "acct-a", "at-aaaa-0001", "rt-a", timedelta(hours=2), "claude-max")
    seed(tokens, "acct-b", "at-bbbb-0002", "rt-b", timedelta(hours=2), "claude-max")
    seen: list[str] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        token = request.headers["authorization"].removeprefix("Bearer ")
        seen.append(token)
        if token == "at-aaaa-0001":
            return httpx.Response(429, json={"error": "slow"}, headers={"retry-after": "60"})
        return httpx.Response(200, json=anthropic_message(token))

    config = ProviderConfig(
        name="max",
        provider_type="anthropic",
        auth_type="oauth",
        oauth_providers=["nobody", "acct-a", "acct-b"],
        base_url="http://up.test",
    )
    client = ProviderClient(
        config, ServerConfig(), transport=httpx.MockTransport(upstream), state=LocalState()
    )
    client.token_store = TokenStore(tokens)

    async def send() -> int:
        reply = await dispatch(
            {"max": client},
            (ChainEntry("max", "c-1", 0, "m"),),
            BODY,
            {},
            stream=False,
            requested_model="claude-x",
            input_tokens=lambda: 1,
        )
        return reply.status

    assert [await send() for _ in range(6)] == [200] * 6
    assert seen.count("at-aaaa-0001") == 1  # rested at its 429
    assert seen.count("at-bbbb-0002") == 6
    faults = [r for r in caplog.records if "'nobody'" in r.getMessage()]
    assert len(faults) == 1  # no token for "nobody": said once
    view = client.keys.view()
    assert [(k["key"], k["state"]) for k in view] == [
        ("nobody", "fault"),
        ("acct-a", "resting"),
        ("acct-b", "ok"),
    ]
    assert "at-aaaa" not in json.dumps(view) and "at-bbbb" not in json.dumps(view)
