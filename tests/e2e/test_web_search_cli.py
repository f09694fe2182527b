"""Acceptance with the real Claude Code CLI: its WebSearch tool through ccm to a provider that
cannot search. Claude Code sends each search as its own request with Anthropic's web_search
server tool; the provider gets it as a function, and when the model calls it ccm answers
with a web_search_tool_result error, so the main model sees "Web search error: unavailable"
and why, not results a model made up."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.claude_cli import CLAUDE
from tests.e2e.test_ccm_code import _ccm, _code_json, _env, _fresh_home
from tests.fakes.upstream import (
    FakeUpstream,
    Recorded,
    Step,
    dynamic,
    last_tool_result,
    reply_text,
    reply_tool_call,
)
from tests.harness import free_port

pytestmark = pytest.mark.skipif(
    CLAUDE is None and not os.environ.get("CI"),
    reason="Claude Code CLI not installed (bash .ci/run installs it under .ci/npm)",
)
QUERY = "python 3.14 release notes"


def _tool_names(body: Any) -> list[str]:
    return [t.get("function", {}).get("name") for t in (body or {}).get("tools") or []]


def _model(req: Recorded) -> Step:
    """A model in Claude Code's loop: search with WebSearch, then report what came back."""
    names = _tool_names(req.json)
    if names == ["web_search"]:  # Claude Code's search request, as ccm stubbed it
        return reply_tool_call("web_search", {"query": QUERY})
    result = last_tool_result(req.json)
    if result is not None:
        return reply_text("done: " + result)
    if "WebSearch" in names:
        return reply_tool_call("WebSearch", {"query": QUERY})
    return reply_text("ok")


def test_web_search_to_a_provider_that_cannot_search(tmp_path: Path) -> None:
    with FakeUpstream("openai") as up:
        up.default = dynamic(_model)
        port = free_port()
        home = _fresh_home(tmp_path, up, port)
        work = home / "work"
        work.mkdir()
        try:
            _, result = _code_json(
                home, "search the web for the python 3.14 release notes", "WebSearch", cwd=work
            )
            assert result["is_error"] is False
            gen = [r for r in up.requests if r.url_path == up.generation_path]
            search = [r for r in gen if _tool_names(r.json) == ["web_search"]]
            assert len(search) == 1, [_tool_names(r.json) for r in gen]
            stub = search[0].json
            assert stub["tool_choice"] == {"type": "function", "function": {"name": "web_search"}}
            assert "web_search_options" not in stub
            # the main model's next turn holds Claude Code's WebSearch result: the error
            seen = last_tool_result(gen[-1].json) or ""
            assert "Web search error: unavailable" in seen
            assert "cannot run web searches" in seen
            assert result["result"].startswith("done: ")
        finally:
            _ccm(home, "stop", env=_env(home))
