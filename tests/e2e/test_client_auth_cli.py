"""Acceptance for `auth_type = "client"` with the real Claude Code CLI: `ccm code` leaves the
user's own sign-in alone (it sets no ANTHROPIC_AUTH_TOKEN, which would replace it), and the
fake Anthropic upstream receives exactly Claude Code's own credential: its OAuth token as
`Authorization: Bearer` (what a Pro/Max sign-in sends), or its API key as `x-api-key`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.claude_cli import CLAUDE
from tests.e2e.test_ccm_code import VENV_BIN, _ccm, _code_json
from tests.fakes.upstream import FakeUpstream, tool_use_loop_script
from tests.harness import free_port

pytestmark = pytest.mark.skipif(
    CLAUDE is None and not os.environ.get("CI"),
    reason="Claude Code CLI not installed (bash .ci/run installs it under .ci/npm)",
)
OAUTH_TOKEN = "sk-ant-oat01-test-sign-in"
USER_KEY = "sk-ant-api03-test-user-key"


@pytest.mark.parametrize(
    ("credential_env", "expected"),
    [
        ({"CLAUDE_CODE_OAUTH_TOKEN": OAUTH_TOKEN}, {"authorization": f"Bearer {OAUTH_TOKEN}"}),
        ({"ANTHROPIC_API_KEY": USER_KEY}, {"x-api-key": USER_KEY}),
    ],
    ids=["pro-max-sign-in", "api-key"],
)
def test_ccm_code_forwards_claude_codes_own_credential(
    tmp_path: Path, credential_env: dict[str, str], expected: dict[str, str]
) -> None:
    assert CLAUDE is not None
    with FakeUpstream("anthropic") as claude:
        claude.default = tool_use_loop_script("echo hi", require_offered=True)
        port = free_port()
        home = tmp_path / "home"
        cfg = home / ".claude-code-mux" / "config.toml"
        cfg.parent.mkdir(parents=True)
        cfg.write_text(
            f'[server]\nhost = "127.0.0.1"\nport = {port}\n\n'
            f'[[providers]]\nname = "claude-sub"\nprovider_type = "anthropic"\n'
            f'auth_type = "client"\nbase_url = "{claude.base_url}"\nmodels = ["claude-*"]\n'
        )
        work = home / "work"
        work.mkdir()
        env = {
            "PATH": os.pathsep.join([str(Path(CLAUDE).parent), VENV_BIN, "/usr/bin", "/bin"]),
            "HOME": str(home),
            "DISABLE_TELEMETRY": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            **credential_env,
        }
        printed = _ccm(home, "env", env=env)
        assert "ANTHROPIC_AUTH_TOKEN" not in printed.stdout
        assert "ANTHROPIC_API_KEY" not in printed.stdout
        try:
            _, result = _code_json(home, "please run: echo hi", "Bash", env=env, cwd=work)
            assert result["is_error"] is False and result["result"] == "done: hi"
            gen = [r for r in claude.requests if r.url_path == "/v1/messages"]
            assert len(gen) >= 2
            for r in gen:
                auth = {k: v for k, v in r.headers.items() if k in ("authorization", "x-api-key")}
                assert auth == expected
        finally:
            _ccm(home, "stop", env=env)
