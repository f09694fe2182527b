"""`ccm env` / `ccm code` variables and `ccm setup claude` file handling, without a network."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ccm.claude.launch import (
    PLACEHOLDER_KEY,
    base_url,
    client_env,
    client_vars,
    shell_lines,
    unset_key,
)
from ccm.claude.settings import SettingsError, backup_path, settings_path, setup, undo
from ccm.config.load import parse_config
from ccm.config.schema import ServerConfig

SLOTS = """
[claude_code]
opus = "kimi-k2"
sonnet = "glm-4.6"
haiku = "glm-4.5-air"
subagent = "claude-ccm-glm-4.6"
"""


def test_variables_without_a_client_key_use_a_placeholder() -> None:
    env = client_env(parse_config("").config, "http://127.0.0.1:13456")
    assert env == {
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:13456",
        "ANTHROPIC_AUTH_TOKEN": PLACEHOLDER_KEY,
        "ANTHROPIC_API_KEY": "",
        "CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1",
    }


def test_model_slots_and_a_literal_key() -> None:
    cfg = parse_config('[server]\napi_key = "sk-ccm"\n' + SLOTS).config
    env = client_env(cfg, "http://h:1")
    assert env["ANTHROPIC_AUTH_TOKEN"] == "sk-ccm"
    assert env["ANTHROPIC_DEFAULT_OPUS_MODEL"] == "kimi-k2"
    assert env["ANTHROPIC_DEFAULT_SONNET_MODEL"] == "glm-4.6"
    assert env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] == "glm-4.5-air"
    assert env["CLAUDE_CODE_SUBAGENT_MODEL"] == "claude-ccm-glm-4.6"


def test_key_from_the_environment_is_printed_as_a_reference(monkeypatch) -> None:
    monkeypatch.setenv("CCM_TEST_CLIENT_KEY", "sk-secret-value")
    cfg = parse_config('[server]\napi_key = "$CCM_TEST_CLIENT_KEY"\n').config
    variables = client_vars(cfg, "http://h:1")
    assert client_env(cfg, "http://h:1")["ANTHROPIC_AUTH_TOKEN"] == "sk-secret-value"
    for shell, expected in [
        ("bash", 'export ANTHROPIC_AUTH_TOKEN="$CCM_TEST_CLIENT_KEY"'),
        ("fish", "set -gx ANTHROPIC_AUTH_TOKEN $CCM_TEST_CLIENT_KEY"),
        ("powershell", "$env:ANTHROPIC_AUTH_TOKEN = $env:CCM_TEST_CLIENT_KEY"),
    ]:
        lines = shell_lines(variables, shell)
        assert expected in lines
        assert "sk-secret-value" not in "\n".join(lines)
    assert unset_key(variables) is None
    monkeypatch.delenv("CCM_TEST_CLIENT_KEY")
    assert "CCM_TEST_CLIENT_KEY" in (unset_key(client_vars(cfg, "http://h:1")) or "")


@pytest.mark.parametrize(
    ("shell", "line"),
    [
        ("bash", "export ANTHROPIC_DEFAULT_OPUS_MODEL='it'\"'\"'s'"),
        ("fish", "set -gx ANTHROPIC_DEFAULT_OPUS_MODEL 'it'\"'\"'s'"),
        ("powershell", "$env:ANTHROPIC_DEFAULT_OPUS_MODEL = 'it''s'"),
    ],
)
def test_shell_quoting(shell: str, line: str) -> None:
    cfg = parse_config('[claude_code]\nopus = "it\'s"\n').config
    assert line in shell_lines(client_vars(cfg, "http://h:1"), shell)


def test_bash_output_evaluates_to_the_variables(tmp_path: Path) -> None:
    cfg = parse_config('[claude_code]\nopus = "a b\'c"\n').config
    script = "\n".join(shell_lines(client_vars(cfg, "http://h:1"), "bash"))
    out = subprocess.run(
        [
            "bash",
            "-c",
            script
            + '\nprintf "%s|%s" "$ANTHROPIC_DEFAULT_OPUS_MODEL" "${ANTHROPIC_API_KEY-unset}"',
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == "a b'c|"


@pytest.mark.parametrize(
    ("host", "address", "url"),
    [
        ("127.0.0.1", None, "http://127.0.0.1:13456"),
        ("0.0.0.0", None, "http://127.0.0.1:13456"),
        ("::1", None, "http://[::1]:13456"),
        ("127.0.0.1", "0.0.0.0:9000", "http://127.0.0.1:9000"),
    ],
)
def test_base_url(host: str, address: str | None, url: str) -> None:
    assert base_url(ServerConfig(host=host), address) == url


def test_env_command_prints_for_the_config(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[server]\nport = 14000\n" + SLOTS)
    out = subprocess.run(
        [sys.executable, "-m", "ccm.cli", "env", "--config", str(cfg), "--shell", "fish"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "set -gx ANTHROPIC_BASE_URL 'http://127.0.0.1:14000'" in out.stdout
    assert "set -gx ANTHROPIC_DEFAULT_SONNET_MODEL 'glm-4.6'" in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "ccm.cli", "env", "--config", str(cfg), "--shell", "tcsh"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "bash, fish, powershell" in bad.stderr


# ---- settings files ----------------------------------------------------------------------


VARS = client_vars(parse_config(SLOTS).config, "http://127.0.0.1:13456")


def test_setup_merges_and_undo_restores_bytes(tmp_path: Path) -> None:
    path = settings_path(False, home=tmp_path)
    path.parent.mkdir()
    original = (
        b'{"model": "opus",\n  "env": {"KEEP": "x", "ANTHROPIC_BASE_URL": "old"},\n"hooks": {}}'
    )
    path.write_bytes(original)
    path.chmod(0o640)
    assert setup(path, VARS, "/opt/ccm/bin/ccm") is True
    data = json.loads(path.read_text())
    assert data["model"] == "opus" and data["hooks"] == {}
    assert data["env"]["KEEP"] == "x"
    assert data["env"]["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:13456"
    assert data["env"]["ANTHROPIC_DEFAULT_OPUS_MODEL"] == "kimi-k2"
    assert data["statusLine"] == {"type": "command", "command": "/opt/ccm/bin/ccm statusline"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE(backup_path(path).stat().st_mode) == 0o600
    # a second run changes nothing and keeps the first backup (the state before ccm)
    assert setup(path, VARS, "/opt/ccm/bin/ccm") is False
    other = client_vars(parse_config("").config, "http://127.0.0.1:9")
    assert setup(path, other, "/opt/ccm/bin/ccm") is True
    assert "restored" in undo(path)
    assert path.read_bytes() == original
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert not backup_path(path).exists()
    with pytest.raises(SettingsError, match="nothing to undo"):
        undo(path)


def test_setup_of_a_missing_project_file_and_undo_removes_it(tmp_path: Path) -> None:
    path = settings_path(True, cwd=tmp_path)
    assert path == tmp_path / ".claude" / "settings.local.json"
    assert setup(path, VARS, "ccm") is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "did not exist before" in undo(path)
    assert not path.exists()


@pytest.mark.parametrize("text", [b"{not json", b"[1, 2]", b'{"env": "x"}'])
def test_setup_leaves_a_file_it_cannot_read_alone(tmp_path: Path, text: bytes) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(text)
    with pytest.raises(SettingsError, match="not changed"):
        setup(path, VARS, "ccm")
    assert path.read_bytes() == text and not backup_path(path).exists()


def test_setup_with_a_real_client_key_makes_the_file_private(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CCM_TEST_CLIENT_KEY", "sk-real")
    variables = client_vars(
        parse_config('[server]\napi_key = "$CCM_TEST_CLIENT_KEY"\n').config, "http://h:1"
    )
    path = tmp_path / "settings.json"
    path.write_text("{}")
    path.chmod(0o644)
    setup(path, variables, "ccm")
    assert json.loads(path.read_text())["env"]["ANTHROPIC_AUTH_TOKEN"] == "sk-real"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    undo(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644 and path.read_text() == "{}"
    literal = client_vars(parse_config('[server]\napi_key = "sk-literal"\n').config, "http://h:1")
    setup(path, literal, "ccm")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    undo(path)
    placeholder = client_vars(parse_config("").config, "http://h:1")
    setup(path, placeholder, "ccm")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # nothing secret: the mode is kept
