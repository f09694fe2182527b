"""Acceptance for `ccm code` and `ccm setup claude` with a fresh HOME and the real Claude Code
CLI on PATH: the tool loop completes through ccm (started in the background by `ccm code`) to
a fake upstream, with no other setup; model discovery reaches ccm."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccm.server.run import log_path, pid_path, read_pid
from tests.claude_cli import CLAUDE
from tests.fakes.upstream import FakeUpstream, tool_use_loop_script
from tests.harness import free_port, wait_healthy
from tests.proxy_setup import model_toml, provider_toml

pytestmark = pytest.mark.skipif(
    CLAUDE is None and not os.environ.get("CI"),
    reason="Claude Code CLI not installed (bash .ci/run installs it under .ci/npm)",
)
VENV_BIN = str(Path(sys.executable).parent)


def _fresh_home(tmp_path: Path, up: FakeUpstream, port: int, extra: str = "") -> Path:
    """A HOME whose only ccm file is the default-place config, pointing at the fake."""
    home = tmp_path / "home"
    cfg = home / ".claude-code-mux" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n\n[router]\ndefault = "coder"\n'
        + provider_toml("fake", up)
        + model_toml("coder", ("fake", "coder-1"))
        + extra
    )
    return home


def _env(home: Path, *, with_claude: bool = True) -> dict[str, str]:
    assert CLAUDE is not None
    path = [VENV_BIN, "/usr/bin", "/bin"]
    if with_claude:
        path.insert(0, str(Path(CLAUDE).parent))
    return {
        "PATH": os.pathsep.join(path),
        "HOME": str(home),
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "ANTHROPIC_API_KEY": "sk-ant-real-key-of-the-user",  # must not reach ccm or upstream
    }


def _ccm(home: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    return subprocess.run(
        [str(Path(VENV_BIN) / "ccm"), *args],
        env=env or _env(home),
        cwd=cwd or home,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )


def _code_json(
    home: Path, prompt: str, tool: str, *, cwd: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`ccm code -p PROMPT --allowedTools TOOL --output-format json`, which must exit 0: the
    process and Claude Code's parsed result."""
    out = _ccm(
        home,
        "code",
        "-p",
        prompt,
        "--allowedTools",
        tool,
        "--output-format",
        "json",
        env=env,
        cwd=cwd,
    )
    assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-2000:]
    return out, json.loads(out.stdout)


def test_ccm_code_runs_the_tool_loop_with_no_other_setup(tmp_path: Path) -> None:
    with FakeUpstream("openai") as up:
        up.default = tool_use_loop_script("echo hi", require_offered=True)
        port = free_port()
        home = _fresh_home(tmp_path, up, port)
        cfg = home / ".claude-code-mux" / "config.toml"
        work = home / "work"
        work.mkdir()
        try:
            out, result = _code_json(home, "please run: echo hi", "Bash", cwd=work)
            assert result["is_error"] is False and result["num_turns"] >= 2
            assert result["result"] == "done: hi"
            assert f"ccm: started on http://127.0.0.1:{port}" in out.stderr
            assert str(log_path(cfg)) in out.stderr
            # the model asked for Bash; Claude Code ran `echo hi` and sent its output back
            gen = [r for r in up.requests if r.url_path == up.generation_path]
            assert len(gen) >= 2 and all(r.json["model"] == "coder-1" for r in gen)
            assert "hi" in json.dumps(gen[-1].json["messages"][-2:])
            assert all("sk-ant-real-key" not in json.dumps(r.headers) for r in up.requests)
            # ccm keeps running in the background for the next `ccm code`
            pid = read_pid(pid_path(cfg))
            assert pid is not None
            assert httpx.get(f"http://127.0.0.1:{port}/health").json()["status"] == "ok"
            again = _ccm(
                home, "code", "-p", "please run: echo hi", "--allowedTools", "Bash", cwd=work
            )
            assert again.returncode == 0, again.stderr[-2000:]
            assert f"using the ccm running on http://127.0.0.1:{port}" in again.stderr
            assert read_pid(pid_path(cfg)) == pid
        finally:
            stopped = _ccm(home, "stop")
            assert "stopped" in stopped.stdout or "not running" in stopped.stdout
        assert read_pid(pid_path(cfg)) is None


def test_ccm_code_exit_status_is_claudes(tmp_path: Path) -> None:
    with FakeUpstream("openai") as up:
        port = free_port()
        home = _fresh_home(tmp_path, up, port)
        try:
            out = _ccm(home, "code", "--definitely-not-a-claude-option")
            assert out.returncode == 1, out  # claude's own usage error status
            assert "unknown option" in (out.stderr + out.stdout).lower()
        finally:
            _ccm(home, "stop")


def test_ccm_code_without_claude_says_how_to_install(tmp_path: Path) -> None:
    with FakeUpstream("openai") as up:
        home = _fresh_home(tmp_path, up, free_port())
        out = _ccm(home, "code", "-p", "hi", env=_env(home, with_claude=False))
        assert out.returncode == 127
        assert "npm install -g @anthropic-ai/claude-code" in out.stderr
        assert read_pid(pid_path(home / ".claude-code-mux" / "config.toml")) is None


def test_ccm_code_reports_a_ccm_that_cannot_start(tmp_path: Path) -> None:
    import socket

    with FakeUpstream("openai") as up, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        home = _fresh_home(tmp_path, up, taken.getsockname()[1])
        out = _ccm(home, "code", "-p", "hi")
        assert out.returncode == 1
        assert "ccm did not start" in out.stderr and "is in use" in out.stderr


def test_setup_claude_then_undo_is_byte_identical_and_discovery_works(tmp_path: Path) -> None:
    """`ccm setup claude` is all an IDE extension needs: claude started with no variables
    reaches ccm (model discovery included); --undo leaves settings.json byte-identical."""
    with FakeUpstream("openai") as up:
        up.default = tool_use_loop_script("echo hi", require_offered=True)
        port = free_port()
        home = _fresh_home(tmp_path, up, port, model_toml("glm-4.6", ("fake", "glm-up")))
        settings = home / ".claude" / "settings.json"
        settings.parent.mkdir()
        original = b'{\n    "theme": "dark",   "permissions": {"allow": ["Bash(ls:*)"]},\n "env": {"FOO": "1"}\n}\n'
        settings.write_bytes(original)
        settings.chmod(0o644)
        env = _env(home)
        out = _ccm(home, "setup", "claude", env=env)
        assert out.returncode == 0, out.stderr
        merged = json.loads(settings.read_text())
        assert merged["theme"] == "dark" and merged["permissions"] == {"allow": ["Bash(ls:*)"]}
        assert merged["env"]["FOO"] == "1"
        assert merged["env"]["ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{port}"
        assert merged["statusLine"] == {
            "type": "command",
            "command": f"{Path(VENV_BIN) / 'ccm'} statusline",
        }
        cfg = home / ".claude-code-mux" / "config.toml"
        start = subprocess.Popen(
            [str(Path(VENV_BIN) / "ccm"), "start", "--config", str(cfg), "--no-watch"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_healthy(f"http://127.0.0.1:{port}", start)
            bare = {k: v for k, v in env.items() if k != "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"}
            assert CLAUDE is not None
            proc = subprocess.run(
                [CLAUDE, "-p", "please run: echo hi", "--allowedTools", "Bash"],
                env=bare,  # no ANTHROPIC_BASE_URL: the settings file says where ccm is
                cwd=home,
                capture_output=True,
                text=True,
                timeout=240,
                stdin=subprocess.DEVNULL,
            )
            assert proc.returncode == 0, proc.stderr[-2000:]
            assert "done: hi" in proc.stdout
            cache = json.loads((home / ".claude/cache/gateway-models.json").read_text())
            assert {m["id"] for m in cache["models"]} == {"claude-ccm-coder", "claude-ccm-glm-4.6"}
        finally:
            start.terminate()
            start.wait(20)
        again = _ccm(home, "setup", "claude", env=env)
        assert "already points Claude Code at ccm" in again.stdout
        out = _ccm(home, "setup", "claude", "--undo", env=env)
        assert out.returncode == 0, out.stderr
        assert settings.read_bytes() == original
        assert (settings.stat().st_mode & 0o777) == 0o644
        assert not (settings.parent / "settings.json.ccm-backup.json").exists()
