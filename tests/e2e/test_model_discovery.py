"""The real Claude Code CLI's model discovery against ccm: its cached model list holds ccm's
logical models (by alias where Claude Code would drop the name), and an alias routes back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.claude_cli import CLAUDE, claude_json
from tests.fakes.upstream import FakeUpstream, reply_text
from tests.harness import running_ccm
from tests.proxy_setup import model_toml, provider_toml, write_config

pytestmark = pytest.mark.skipif(
    CLAUDE is None and not os.environ.get("CI"),
    reason="Claude Code CLI not installed (bash .ci/run installs it under .ci/npm)",
)


def test_claude_code_caches_ccms_models_and_routes_an_alias(tmp_path: Path) -> None:
    assert CLAUDE is not None, "CI must have the Claude Code CLI"
    with FakeUpstream("openai") as up:
        up.default = reply_text("hello from glm")
        cfg = write_config(
            tmp_path / "config.toml",
            provider_toml("zai", up)
            + model_toml("glm-4.6", ("zai", "glm-4.6-up"))
            + model_toml("kimi-k2", ("zai", "kimi-up")),
        )
        home, work = tmp_path / "home", tmp_path / "work"
        home.mkdir()
        work.mkdir()
        with running_ccm(cfg) as ccm:
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": str(home),
                "ANTHROPIC_BASE_URL": ccm.base_url,
                "ANTHROPIC_API_KEY": "sk-client",
                "DISABLE_TELEMETRY": "1",
                "CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1",
                # nonessential traffic stays on: discovery is part of it
            }

            def claude(*args: str) -> dict:
                return claude_json(work, env, "-p", "hi", *args)

            claude("--model", "glm-4.6")
            cache = json.loads((home / ".claude/cache/gateway-models.json").read_text())
            assert cache["baseUrl"] == ccm.base_url
            cached = {m["id"]: m.get("display_name") for m in cache["models"]}
            assert cached == {"claude-ccm-glm-4.6": "glm-4.6", "claude-ccm-kimi-k2": "kimi-k2"}

            # picking the alias (as /model would) reaches the logical model's upstream
            result = claude("--model", "claude-ccm-kimi-k2")
            assert result["result"] == "hello from glm"
            gen = [r for r in up.requests if r.url_path == up.generation_path]
            assert gen[-1].json["model"] == "kimi-up"
