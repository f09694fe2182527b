"""Through the real Claude Code CLI: answers a retry cannot fix reach the screen at once.

A chain whose only provider answers 401 made Claude Code 2.1 retry 10 times over 197 s before
it showed the error; with `x-should-retry: false` (and the refused key removed, so ccm answers
the next call itself) the error is on screen within 5 s."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.claude_cli import CLAUDE
from tests.fakes.upstream import FakeUpstream, status
from tests.harness import running_ccm
from tests.proxy_setup import model_toml, provider_toml, write_config

pytestmark = pytest.mark.skipif(
    CLAUDE is None and not os.environ.get("CI"),
    reason="Claude Code CLI not installed (bash .ci/run installs it under .ci/npm)",
)


def test_upstream_401_shows_within_5_seconds(tmp_path: Path) -> None:
    assert CLAUDE is not None, "CI must have the Claude Code CLI"
    with FakeUpstream("anthropic") as up:
        up.default = status(401)
        cfg = write_config(
            tmp_path / "config.toml",
            provider_toml("only", up, key="sk-refused-upstream-key")
            + model_toml("m", ("only", "u-1")),
            router='default = "m"',
        )
        home = tmp_path / "home"
        home.mkdir()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "ANTHROPIC_API_KEY": "sk-test-client",
            "DISABLE_TELEMETRY": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        }
        with running_ccm(cfg) as ccm:
            env["ANTHROPIC_BASE_URL"] = ccm.base_url
            t0 = time.monotonic()
            proc = subprocess.run(
                [CLAUDE, "-p", "say hi", "--output-format", "json"],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                stdin=subprocess.DEVNULL,
            )
            elapsed = time.monotonic() - t0
        print(f"claude -p ended after {elapsed:.1f}s; upstream calls: {len(up.requests)}")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 or '"is_error":true' in out.replace(" ", ""), out[-2000:]
    assert "401" in out or "authentication" in out.lower() or "api key" in out.lower(), out[-2000:]
    assert elapsed < 5, f"the error took {elapsed:.1f}s to show"
    assert len(up.requests) == 1  # the refused key was removed: ccm answered the rest itself
