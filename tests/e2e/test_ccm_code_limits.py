"""Acceptance with the real Claude Code CLI: `ccm code` sizes Claude Code's context for the
model the main turn really goes to, so a 128K model is not treated as a 1M one (`/context`
shows the window Claude Code works with)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.claude_cli import CLAUDE
from tests.e2e.test_ccm_code import _ccm, _env, _fresh_home
from tests.fakes.upstream import FakeUpstream
from tests.harness import free_port

pytestmark = pytest.mark.skipif(
    CLAUDE is None and not os.environ.get("CI"),
    reason="Claude Code CLI not installed (bash .ci/run installs it under .ci/npm)",
)


def _window(tmp_path: Path, mapping_extra: str) -> str:
    """The window `/context` reports when the default model's mapping has `mapping_extra`."""
    with FakeUpstream("openai") as up:
        home = _fresh_home(tmp_path, up, free_port(), mapping_extra)  # extends coder's mapping
        try:
            out = _ccm(home, "code", "-p", "/context")
            assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-2000:]
            found = re.search(r"\*\*Tokens:\*\* [\d.]+k / (\S+)", out.stdout)
            assert found, out.stdout[:2000]
            return found.group(1)
        finally:
            _ccm(home, "stop", env=_env(home))


def test_a_128k_model_gets_a_128k_window(tmp_path: Path) -> None:
    assert _window(tmp_path, "context_window = 128000\nmax_tokens = 8192\n") == "128k"


def test_without_capability_data_claude_code_keeps_its_own(tmp_path: Path) -> None:
    assert _window(tmp_path, "") == "1m"
