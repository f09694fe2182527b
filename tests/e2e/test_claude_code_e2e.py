"""End to end with the real Claude Code CLI: a Bash tool-use loop through ccm, against an
OpenAI-dialect fake upstream and against an Anthropic-dialect one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.claude_cli import CLAUDE, run_claude
from tests.fakes.upstream import FakeUpstream, tool_use_loop_script
from tests.harness import running_ccm
from tests.proxy_setup import model_toml, provider_toml, write_config

pytestmark = pytest.mark.skipif(
    CLAUDE is None and not os.environ.get("CI"),
    reason="Claude Code CLI not installed (bash .ci/run installs it under .ci/npm)",
)


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
def test_claude_code_bash_tool_loop(tmp_path: Path, dialect: str) -> None:
    assert CLAUDE is not None, "CI must have the Claude Code CLI"
    with FakeUpstream(dialect) as up:  # type: ignore[arg-type]
        up.default = tool_use_loop_script("echo hello-from-tool", require_offered=True)
        cfg = write_config(
            tmp_path / "config.toml",
            provider_toml("fake", up) + model_toml("coder", ("fake", f"{dialect}-coder-1")),
            router='default = "coder"',
        )
        with running_ccm(cfg) as ccm:
            result = run_claude(tmp_path, ccm.base_url)
            assert "done: hello-from-tool" in result["result"]
            gen = [r for r in up.requests if r.url_path == up.generation_path]
            assert len(gen) >= 2
            # the model asked for Bash; Claude Code ran it and sent the output back through ccm
            assert all(r.json["model"] == f"{dialect}-coder-1" for r in gen)
            assert "hello-from-tool" in json.dumps(gen[-1].json["messages"][-2:])
            # Claude Code's own requests were routed: the client's key never reached upstream
            assert all("sk-test-client" not in json.dumps(r.headers) for r in gen)
