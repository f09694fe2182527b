"""The real Claude Code CLI as a test client: where it is, and one `claude -p` tool loop."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import ROOT


def _claude() -> str | None:
    for candidate in (
        os.environ.get("CCM_CLAUDE_BIN"),
        str(ROOT / ".ci/npm/node_modules/.bin/claude"),
        shutil.which("claude"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


CLAUDE = _claude()


def run_claude(tmp_path: Path, base_url: str) -> dict:
    """Run `claude -p` against ccm with a Bash tool loop; the parsed JSON result."""
    assert CLAUDE is not None, "CI must have the Claude Code CLI"
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "sk-test-client",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    result = claude_json(
        work, env, "-p", "run echo hello-from-tool via Bash", "--allowedTools", "Bash"
    )
    assert result["is_error"] is False, result
    assert result["num_turns"] >= 2
    return result


def claude_json(work: Path, env: dict[str, str], *args: str) -> dict:
    """`claude ARGS --output-format json` in `work` with only `env`; its parsed result (it
    must exit 0)."""
    assert CLAUDE is not None, "CI must have the Claude Code CLI"
    proc = subprocess.run(
        [CLAUDE, *args, "--output-format", "json"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    return json.loads(proc.stdout)
