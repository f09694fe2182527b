"""End to end with the real Claude Code CLI: a Bash tool-use loop through ccm, against a fake
upstream of each dialect (OpenAI Chat, Anthropic, Gemini, OpenAI Responses)."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import pytest

from tests.claude_cli import CLAUDE, run_claude
from tests.fakes import gemini_upstream, responses_upstream
from tests.fakes.upstream import FakeUpstream, last_tool_result, tool_use_loop_script
from tests.proxy_setup import proxied

pytestmark = pytest.mark.skipif(
    CLAUDE is None and not os.environ.get("CI"),
    reason="Claude Code CLI not installed (bash .ci/run installs it under .ci/npm)",
)

# dialect: the fake, its tool-loop script, and how it reads the tool output a request carries
LOOPS = {
    "openai": (functools.partial(FakeUpstream, "openai"), tool_use_loop_script, last_tool_result),
    "anthropic": (
        functools.partial(FakeUpstream, "anthropic"),
        tool_use_loop_script,
        last_tool_result,
    ),
    "gemini": (
        gemini_upstream.FakeGemini,
        gemini_upstream.tool_use_loop_script,
        gemini_upstream.last_function_response,
    ),
    "responses": (
        responses_upstream.FakeResponsesUpstream,
        responses_upstream.tool_loop,
        responses_upstream.last_function_output,
    ),
}


@pytest.mark.parametrize("dialect", LOOPS)
def test_claude_code_bash_tool_loop(tmp_path: Path, dialect: str) -> None:
    assert CLAUDE is not None, "CI must have the Claude Code CLI"
    fake, loop, tool_output = LOOPS[dialect]
    actual = f"{dialect}-coder-1"
    with fake() as up:
        up.default = loop("echo hello-from-tool", require_offered=True)
        with proxied(tmp_path, ("fake", up, actual)) as ccm:
            result = run_claude(tmp_path, ccm.base_url)
        assert "done: hello-from-tool" in result["result"]
        # the model asked for Bash; Claude Code ran it and sent the output back through ccm
        back = [r for r in up.requests if isinstance(r.json, dict) and tool_output(r.json)]
        assert back, "no request carried the tool's output"
        assert "hello-from-tool" in (tool_output(back[-1].json) or "")
        assert actual in back[-1].url_path or back[-1].json.get("model") == actual
        # Claude Code's own requests were routed: the client's key never reached upstream
        assert all("sk-test-client" not in json.dumps(r.headers) for r in up.requests)
