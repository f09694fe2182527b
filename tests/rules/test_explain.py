"""`ccm explain`: the trace agrees with routing; every route kind has an example request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ccm.config.load import load_config
from ccm.rules.explain import explain, format_explanation, request_of
from ccm.rules.load import build_router
from tests.conftest import EXAMPLES

CCM = [sys.executable, "-m", "ccm.cli"]
EXAMPLE_KEYS = {
    f"{name}_API_KEY": "sk-test"
    for name in ("ZAI", "OPENROUTER", "MINIMAX", "GEMINI", "OPENAI", "KIMI", "ANTHROPIC")
}

# every route kind of rules/default.rules, by example request
EXPECTED = {
    "haiku-websearch.json": ("websearch", "glm-4.6"),
    "subagent-tag.json": ("subagent", "glm-4.5-air"),
    "sonnet-thinking.json": ("think", "kimi-k2-thinking"),
    "long-context.json": ("long", "gemini-2.5-pro"),
    "image.json": ("image", "gpt-4o"),
    "haiku-background.json": ("background", "glm-4.5-air"),
    "claude-code-background.json": ("background", "glm-4.5-air"),
    "claude-code-main-turn.json": ("default", "minimax-m2"),
    "claude-code-tool-result-turn.json": ("default", "minimax-m2"),
    "non-claude-passthrough.json": ("default", "glm-4.6"),
    "claude-code-subagent.json": ("agents", "glm-4.6"),
    "claude-code-plan-mode.json": ("think", "kimi-k2-thinking"),
    "claude-code-title.json": ("background", "glm-4.5-air"),
}


def _requests() -> list[Path]:
    return sorted(p for p in (EXAMPLES / "requests").glob("*.json") if "headers" not in p.name)


def _load(path: Path) -> tuple[dict, dict[str, str]]:
    return request_of(json.loads(path.read_text()))


def test_every_example_is_expected() -> None:
    assert {p.name for p in _requests()} == set(EXPECTED)


@pytest.mark.parametrize("path", _requests(), ids=lambda p: p.name)
def test_explain_agrees_with_route(path: Path) -> None:
    router = build_router(load_config(EXAMPLES / "config-rules.toml"))
    body, headers = _load(path)
    decision = router.route(body, headers)
    exp = explain(router, body, headers)
    assert (exp["rule"], exp["model"]) == EXPECTED[path.name]
    assert (decision.rule, decision.model) == EXPECTED[path.name]
    assert exp["chain"] == [e.to_json() for e in decision.chain]
    assert [(c["provider"], c["actual_model"]) for c in exp["chain"]] == [
        (e.provider, e.actual_model) for e in decision.chain
    ]
    # the trace stops at the rule that held, and only that route held
    routes = [t for t in exp["trace"] if t["kind"] in ("route", "default")]
    assert routes[-1]["rule"] == exp["rule"] and routes[-1]["held"]
    assert not any(t["held"] for t in routes[:-1])
    assert all(
        t["location"].startswith(str(EXAMPLES / ".." / "rules" / "default.rules"))
        for t in exp["trace"]
    )


def test_claude_code_request_shape_is_real() -> None:
    body = json.loads((EXAMPLES / "requests" / "claude-code-main-turn.json").read_text())
    assert isinstance(body["system"], list) and any("cache_control" in b for b in body["system"])
    assert any(m["role"] == "system" for m in body["messages"])
    assert body["thinking"] == {"type": "adaptive"}
    assert len(body["tools"]) >= 20


def test_explain_cli_json_shape() -> None:
    out = subprocess.run(
        [
            *CCM,
            "explain",
            str(EXAMPLES / "requests" / "haiku-websearch.json"),
            "--config",
            str(EXAMPLES / "config.toml"),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout)
    assert data["model"] == "glm-4.6"
    assert data["rule"] == "websearch"
    assert data["chain"][0] == {
        "provider": "zai coding plan",
        "actual_model": "glm-4.6",
        "priority": 1,
        "model": "glm-4.6",
        "capabilities": {
            "vision": False,
            "context_window": 200_000,
            "max_output": None,
            "web_search": True,  # z.ai's Anthropic endpoint gets server tools as they came
            "vision_from": "model data: glm-4.6* (docs.z.ai GLM-4.6)",
        },
    }
    assert [c["provider"] for c in data["chain"]] == ["zai coding plan", "openrouter"]
    rewrite, websearch = data["trace"]
    assert rewrite["kind"] == "rewrite" and rewrite["held"] and "minimax" not in rewrite["effect"]
    assert websearch["location"].startswith(str(EXAMPLES / "config.toml") + ":")
    assert "[router] websearch" in websearch["location"]
    assert websearch["checks"][0]["held"] and "web_search" in websearch["checks"][0]["value"]


def test_explain_cli_human_output_and_error_exit(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            *CCM,
            "explain",
            str(EXAMPLES / "requests" / "subagent-tag.json"),
            "--config",
            str(EXAMPLES / "config.toml"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "subagent" in out and "HELD" in out and "$name = 'glm-4.5-air'" in out
    assert "strip" in out and "zai coding plan" in out
    req = tmp_path / "r.json"
    req.write_text(json.dumps({"model": "unknown-model", "messages": []}))
    res = subprocess.run(
        [*CCM, "explain", str(req), "--config", str(EXAMPLES / "config.toml")],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 1 and "no provider serves model" in res.stdout
    req.write_text("{not json")
    res = subprocess.run(
        [*CCM, "explain", str(req), "--config", str(EXAMPLES / "config.toml")],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 1 and "cannot read a JSON request" in res.stderr


def test_explain_header_option_reaches_rules(tmp_path: Path) -> None:
    rules = tmp_path / "h.rules"
    rules.write_text(
        'route team when header("X-Team") == "infra" to "glm-4.5-air"\ndefault to model\n'
    )
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        (EXAMPLES / "config.toml")
        .read_text()
        .replace("[router]", f'[router]\nrules = "{rules}"', 1)
    )
    req = EXAMPLES / "requests" / "non-claude-passthrough.json"
    res = subprocess.run(
        [*CCM, "explain", str(req), "-c", str(cfg), "--json", "-H", "x-team: infra"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(res.stdout)["rule"] == "team"


def test_format_explanation_lists_features_rules_and_chain() -> None:
    router = build_router(load_config(EXAMPLES / "config-rules.toml"))
    text = format_explanation(
        explain(
            router, json.loads((EXAMPLES / "requests" / "claude-code-main-turn.json").read_text())
        )
    )
    for part in (
        "features",
        "tokens",
        "rules tried",
        "default.rules:",
        "target",
        "chain",
        "MiniMax-M2",
    ):
        assert part in text


def test_rules_from_toml_prints_equivalent_rules(tmp_path: Path) -> None:
    out = subprocess.run(
        [*CCM, "rules", "from-toml", str(EXAMPLES / "config.toml")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert 'rewrite when model ~ /^claude-/ to "glm-4.6"' in out
    assert (
        'route think when (thinking.type == "enabled" and original_model !~ /(?i)claude.*haiku/)'
        ' or plan_mode to "kimi-for-coding"' in out
    )
    assert out.rstrip().endswith("default to model")
    # the printed rules, used as a rules file, route every example exactly like the TOML
    (tmp_path / "from.rules").write_text(out)
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        (EXAMPLES / "config.toml")
        .read_text()
        .replace("[router]", '[router]\nrules = "from.rules"', 1)
    )
    by_toml = build_router(load_config(EXAMPLES / "config.toml"))
    by_rules = build_router(load_config(cfg))
    for path in _requests():
        body, headers = _load(path)
        a, b = by_toml.route(body, headers), by_rules.route(body, headers)
        assert (a.rule, a.model, a.chain, a.error) == (b.rule, b.model, b.chain, b.error), path.name


@pytest.mark.parametrize(
    "rules_file", sorted(p.name for p in (EXAMPLES.parent / "rules").glob("*.rules"))
)
def test_every_shipped_rules_file_checks_clean(rules_file: str) -> None:
    res = subprocess.run(
        [
            *CCM,
            "check",
            "--config",
            str(EXAMPLES / "config-rules.toml"),
            "--rules",
            str(EXAMPLES.parent / "rules" / rules_file),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **EXAMPLE_KEYS},  # as a user with the example's keys has them
    )
    assert res.returncode == 0, res.stderr
    assert "error" not in res.stderr


def test_cost_and_quality_rules_route_claude_code_differently(tmp_path: Path) -> None:
    from ccm.config.load import parse_config
    from ccm.rules.chain import Resolver
    from ccm.rules.compile import compile_rules
    from ccm.rules.parse import parse_rules

    resolver = Resolver(
        parse_config(
            (EXAMPLES / "config-rules.toml").read_text(), EXAMPLES / "config-rules.toml"
        ).config
    )
    main_turn = json.loads((EXAMPLES / "requests" / "claude-code-main-turn.json").read_text())
    title = json.loads((EXAMPLES / "requests" / "claude-code-background.json").read_text())
    routers = {
        name: compile_rules(
            parse_rules((EXAMPLES.parent / "rules" / f"{name}.rules").read_text(), name), resolver
        )
        for name in ("cost", "quality")
    }
    assert (
        routers["cost"].route(main_turn).model == "minimax-m2"
    )  # adaptive thinking is not paid for
    assert routers["quality"].route(main_turn).rule == "deep"  # adaptive + effort high is
    assert routers["cost"].route(title).rule == routers["quality"].route(title).rule == "background"
