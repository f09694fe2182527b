"""`ccm code` sizes Claude Code for the model its main turn really goes to: the window and
output limit of that chain (capability data), and the variables Claude Code 2.1.197 reads."""

from __future__ import annotations

import pytest

from ccm.claude.limits import (
    Limits,
    asked_models,
    claude_code_vars,
    limit_vars,
    main_limits,
)
from ccm.config.load import parse_config
from ccm.rules.load import build_router
from tests.proxy_setup import model_toml, provider

PROVIDERS = (
    provider("ds", "deepseek", api_key="sk-ds")
    + provider("gem", "gemini", api_key="sk-gem")
    + provider("local", "ollama")
    + model_toml("deepseek", ("ds", "deepseek-chat"))
    + model_toml("gemini", ("gem", "gemini-2.5-pro"))
    + model_toml(
        "tiny", ("local", "qwen2.5-coder:7b", {"context_window": 32_000, "max_tokens": 4_096})
    )
)


def _vars(router_toml: str, extra: str = "", **kw: object) -> dict[str, str]:
    loaded = parse_config(f"[router]\n{router_toml}\n{PROVIDERS}{extra}")
    variables = claude_code_vars(loaded, "http://127.0.0.1:1", environ={}, **kw)  # type: ignore[arg-type]
    return {v.name: v.value for v in variables}


def test_a_128k_model_is_not_treated_as_a_1m_one() -> None:
    env = _vars('default = "deepseek"')
    # deepseek-chat: 128K in, 8K out (model data); Claude Code would assume 1M for opus-4-8
    assert env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "128000"
    assert env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "128000"
    assert env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "8192"
    # claude-opus-4-8 is sized from Claude Code's own table: refuse above window - reserve - 3K
    assert env["CLAUDE_CODE_BLOCKING_LIMIT_OVERRIDE"] == str(128_000 - 8_192 - 3_000)
    assert "CLAUDE_AUTOCOMPACT_PCT_OVERRIDE" not in env  # 128K is within Claude Code's range


def test_a_mapping_overrides_the_model_data() -> None:
    extra = '[claude_code]\nopus = "deepseek"\nsonnet = "deepseek"\n'
    loaded = parse_config(
        '[router]\ndefault = "deepseek"\n'
        + PROVIDERS.replace(
            'actual_model = "deepseek-chat"\n',
            'actual_model = "deepseek-chat"\ncontext_window = 64_000\n',
        )
        + extra
    )
    env = {v.name: v.value for v in claude_code_vars(loaded, "http://h:1", environ={})}
    assert env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "64000"
    assert env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "100000"  # Claude Code's minimum
    # the slots name `deepseek`: Claude Code sizes that name from MAX_CONTEXT_TOKENS itself
    assert "CLAUDE_AUTOCOMPACT_PCT_OVERRIDE" not in env
    assert "CLAUDE_CODE_BLOCKING_LIMIT_OVERRIDE" not in env


def test_a_small_window_behind_a_claude_name_compacts_where_it_should() -> None:
    env = _vars('default = "tiny"')
    assert env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "100000"
    assert env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "4096"
    pct = float(env["CLAUDE_AUTOCOMPACT_PCT_OVERRIDE"])
    # Claude Code compacts at floor((100000 - 4096) * pct / 100): about 32000 - 4096 - 13000
    threshold = int((100_000 - 4_096) * pct / 100)
    assert 32_000 - 4_096 - 13_000 - 100 <= threshold <= 32_000 - 4_096 - 13_000
    assert env["CLAUDE_CODE_BLOCKING_LIMIT_OVERRIDE"] == str(32_000 - 4_096 - 3_000)


def test_a_long_context_route_decides_for_long_conversations() -> None:
    env = _vars('default = "deepseek"\nlong_context = "gemini"\nlong_context_threshold = 60000')
    # a conversation near deepseek's 128K goes to gemini-2.5-pro (1M): that window counts
    assert env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "1000000"
    assert env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "1048576"
    assert env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "65536"


def test_unknown_limits_set_nothing() -> None:
    env = _vars(
        'default = "x"',
        '\n[[models]]\nname = "x"\n[[models.mappings]]\nprovider = "local"\nactual_model = "mystery"\n',
    )
    assert not any(k.startswith("CLAUDE_CODE_AUTO") or "MAX_" in k for k in env)


def test_the_smallest_of_the_main_candidates_wins() -> None:
    extra = '[claude_code]\nopus = "gemini"\nsonnet = "deepseek"\n'
    env = _vars('default = "gemini"', extra)
    assert env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "128000"
    # --model picks one
    env = _vars('default = "gemini"', extra, args=["-p", "hi", "--model", "opus"])
    assert env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "1048576"
    env = _vars('default = "gemini"', extra, args=["--model=sonnet"])
    assert env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "128000"


def test_asked_models() -> None:
    loaded = parse_config("")
    assert asked_models(loaded, (), {}) == ["claude-opus-4-8", "claude-sonnet-4-6"]
    assert asked_models(loaded, (), {"ANTHROPIC_MODEL": "glm-4.6"}) == ["glm-4.6"]
    assert asked_models(loaded, ["--model", "claude-haiku-4-5"], {}) == ["claude-haiku-4-5"]


def test_variables_the_user_set_are_left_alone() -> None:
    loaded = parse_config(f'[router]\ndefault = "deepseek"\n{PROVIDERS}')
    env = {
        v.name: v.value
        for v in claude_code_vars(
            loaded, "http://h:1", environ={"CLAUDE_CODE_AUTO_COMPACT_WINDOW": "150000"}
        )
    }
    assert "CLAUDE_CODE_AUTO_COMPACT_WINDOW" not in env  # theirs stays in force
    assert env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "128000"


@pytest.mark.parametrize("window", [2_000_000, 1_000_000])
def test_window_is_clamped_to_what_claude_code_accepts(window: int) -> None:
    (auto, ctx) = limit_vars(Limits(window, None, "m", "claude-opus-4-8"))
    assert auto.value == "1000000" and ctx.value == str(window)


def test_main_limits_of_a_router() -> None:
    router = build_router(parse_config(f'[router]\ndefault = "deepseek"\n{PROVIDERS}'))
    lim = main_limits(router, ["claude-opus-4-8"])
    assert lim is not None and (lim.window, lim.max_output, lim.target) == (
        128_000,
        8_192,
        "deepseek",
    )
