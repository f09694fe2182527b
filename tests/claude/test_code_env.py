"""What `ccm code` / `ccm env` / `ccm setup claude` give Claude Code beyond the base URL and
the slots: the client credential (none with `auth_type = "client"`)."""

from __future__ import annotations

import json
from pathlib import Path

from ccm.claude.launch import client_env, client_vars
from ccm.claude.settings import setup, undo
from ccm.config.load import parse_config

CLIENT_AUTH = """
[[providers]]
name = "claude-sub"
provider_type = "anthropic"
auth_type = "client"
models = ["claude-*"]
"""


def test_client_auth_leaves_claude_codes_own_sign_in_alone() -> None:
    env = client_env(parse_config(CLIENT_AUTH).config, "http://127.0.0.1:13456")
    assert "ANTHROPIC_AUTH_TOKEN" not in env  # it would replace a Pro/Max login
    assert "ANTHROPIC_API_KEY" not in env  # a user's own key is what the provider receives
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:13456"


def test_a_disabled_client_auth_provider_changes_nothing() -> None:
    cfg = parse_config(CLIENT_AUTH + "enabled = false\n").config
    assert client_env(cfg, "http://h:1")["ANTHROPIC_AUTH_TOKEN"] == "ccm-local"


def test_setup_claude_with_client_auth_writes_no_token(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"env": {"KEEP": "1"}}')
    setup(path, client_vars(parse_config(CLIENT_AUTH).config, "http://h:1"), "ccm")
    env = json.loads(path.read_text())["env"]
    assert env["KEEP"] == "1" and env["ANTHROPIC_BASE_URL"] == "http://h:1"
    assert "ANTHROPIC_AUTH_TOKEN" not in env and "ANTHROPIC_API_KEY" not in env
    undo(path)
    assert path.read_text() == '{"env": {"KEEP": "1"}}'
