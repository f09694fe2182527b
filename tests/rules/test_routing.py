"""Routing decisions: claude-code-mux's README examples (from TOML and from a rules file),
captures and strip, lists of targets, token thresholds, every field."""

from __future__ import annotations

import copy
import json

import pytest

from ccm.rules.features import apply_strip
from tests.conftest import EXAMPLES, RouterFactory

# The same routing as ROUTER_TOML, written as a rules file.
EQUIVALENT_RULES = r"""
rewrite when model ~ /^claude-/ to "minimax-m2"
route websearch  when tools.type ~ /^web_search/ to "glm-4.6"
route subagent   when system ~ /<CCM-SUBAGENT-MODEL>\s*(?P<name>[^<]+?)\s*<\/CCM-SUBAGENT-MODEL>/ strip to $name
route think      when thinking.type == "enabled" to "kimi-k2-thinking"
route background when original_model ~ /(?i)claude.*haiku/ to "glm-4.5-air"
default to model
"""

WEB_SEARCH_TOOL = {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}

README_EXAMPLES = [
    # (README example, request, rule, model, first provider/actual model)
    (
        "1 haiku+web_search",
        {"model": "claude-4-5-haiku", "tools": [WEB_SEARCH_TOOL]},
        "websearch",
        "glm-4.6",
        ("zai", "glm-4.6"),
    ),
    (
        "2 plain haiku",
        {"model": "claude-4-5-haiku"},
        "background",
        "glm-4.5-air",
        ("zai", "glm-4.5-air"),
    ),
    (
        "3 sonnet+thinking",
        {"model": "claude-4-5-sonnet", "thinking": {"type": "enabled", "budget_tokens": 4096}},
        "think",
        "kimi-k2-thinking",
        ("openrouter", "moonshotai/kimi-k2-thinking"),
    ),
    ("4 non-claude", {"model": "glm-4.6"}, "default", "glm-4.6", ("zai", "glm-4.6")),
]


def _body(extra: dict) -> dict:
    return {"max_tokens": 1024, "messages": [{"role": "user", "content": "hi"}], **extra}


@pytest.mark.parametrize("source", ["toml", "rules"])
@pytest.mark.parametrize(
    ("name", "extra", "rule", "model", "first"),
    README_EXAMPLES,
    ids=[e[0] for e in README_EXAMPLES],
)
def test_readme_examples(
    make_router: RouterFactory, source, name, extra, rule, model, first
) -> None:
    router = make_router() if source == "toml" else make_router(rules=EQUIVALENT_RULES)
    d = router.route(_body(extra))
    assert d.error is None
    assert (d.rule, d.model) == (rule, model)
    assert (d.chain[0].provider, d.chain[0].actual_model) == first
    assert d.original_model == extra["model"]


def test_auto_map_rewrites_claude_names_to_default(make_router: RouterFactory) -> None:
    d = make_router().route(_body({"model": "claude-sonnet-4-5"}))
    assert (d.rule, d.model, d.rewritten_model) == ("default", "minimax-m2", "minimax-m2")
    assert [(e.provider, e.actual_model) for e in d.chain] == [("minimax", "MiniMax-M2")]


def test_mappings_follow_priority_and_skip_disabled(make_router: RouterFactory) -> None:
    glm = make_router().route(_body({"model": "glm-4.6"}))
    assert [(e.provider, e.priority) for e in glm.chain] == [("zai", 1), ("openrouter", 2)]
    kimi = make_router().route(_body({"model": "claude-x", "thinking": {"type": "enabled"}}))
    assert [e.provider for e in kimi.chain] == ["openrouter"]
    assert any("disabled" in s for s in kimi.skipped)


def test_toml_think_slot_keeps_mux_semantics_for_adaptive(make_router: RouterFactory) -> None:
    # claude-code-mux routes to `think` only on thinking.type == "enabled"; Claude Code 2.1
    # sends "adaptive" on every main turn, which must not flip every request to think.
    d = make_router().route(_body({"model": "claude-opus-4-8", "thinking": {"type": "adaptive"}}))
    assert d.rule == "default"
    bare = make_router(rules='route think when thinking to "kimi-k2-thinking"\ndefault to model')
    assert bare.route(_body({"model": "glm-4.6", "thinking": {"type": "adaptive"}})).rule == "think"


def test_websearch_beats_think_and_subagent(make_router: RouterFactory) -> None:
    body = _body(
        {
            "model": "claude-4-5-sonnet",
            "thinking": {"type": "enabled"},
            "tools": [WEB_SEARCH_TOOL],
            "system": [
                {"type": "text", "text": "<CCM-SUBAGENT-MODEL>glm-4.5-air</CCM-SUBAGENT-MODEL>"}
            ],
        }
    )
    assert make_router().route(body).rule == "websearch"


def test_tool_named_like_web_search_without_type_is_not_websearch(
    make_router: RouterFactory,
) -> None:
    body = _body(
        {"model": "claude-4-5-sonnet", "tools": [{"name": "web_search_mcp", "input_schema": {}}]}
    )
    assert make_router().route(body).rule == "default"


def test_unknown_model_is_a_clear_error_not_an_exception(make_router: RouterFactory) -> None:
    d = make_router().route(_body({"model": "no-such-model"}))
    assert d.chain == ()
    assert "no-such-model" in d.error and "[[models]]" in d.error


# ---- captures and strip ----------------------------------------------------


def test_subagent_tag_in_any_system_block_routes_and_is_stripped(
    make_router: RouterFactory,
) -> None:
    # Claude Code sends three system blocks; the agent prompt is in the third (CCR #1564)
    body = _body(
        {
            "model": "claude-sonnet-4-5",
            "system": [
                {"type": "text", "text": "billing header"},
                {"type": "text", "text": "You are Claude.", "cache_control": {"type": "ephemeral"}},
                {
                    "type": "text",
                    "text": "Agent prompt <CCM-SUBAGENT-MODEL> glm-4.5-air </CCM-SUBAGENT-MODEL> go",
                },
            ],
        }
    )
    for router in (make_router(), make_router(rules=EQUIVALENT_RULES)):
        d = router.route(body)
        assert (d.rule, d.model) == ("subagent", "glm-4.5-air")
        sent = copy.deepcopy(body)
        for field, pattern in d.strips:
            apply_strip(sent, field, pattern)
        assert sent["system"][2]["text"] == "Agent prompt  go"
        assert sent["system"][1] == body["system"][1]  # cache_control untouched
        assert body["system"][2]["text"].startswith("Agent prompt <CCM")  # route() did not mutate


def test_subagent_tag_in_system_role_message(make_router: RouterFactory) -> None:
    body = _body({"model": "claude-sonnet-4-5"})
    body["messages"].append(
        {"role": "system", "content": "<CCM-SUBAGENT-MODEL>glm-4.6</CCM-SUBAGENT-MODEL>"}
    )
    d = make_router().route(body)
    assert (d.rule, d.model) == ("subagent", "glm-4.6")
    apply_strip(body, *d.strips[0])
    assert body["messages"][-1]["content"] == ""


def test_capture_inside_a_provider_pair(make_router: RouterFactory) -> None:
    rules = 'route pick when last_user ~ /^use (?P<m>[a-z0-9.\\/-]+):/ strip to "openrouter,$m"\ndefault to model'
    router = make_router(rules=rules)
    body = _body({"model": "glm-4.6"})
    body["messages"] = [
        {"role": "user", "content": [{"type": "text", "text": "use qwen/qwen3-coder: fix it"}]}
    ]
    d = router.route(body)
    assert d.rule == "pick"
    assert [(e.provider, e.actual_model) for e in d.chain] == [("openrouter", "qwen/qwen3-coder")]
    apply_strip(body, *d.strips[0])
    assert body["messages"][0]["content"][0]["text"] == " fix it"


def test_capture_naming_unknown_model_gives_error_decision(make_router: RouterFactory) -> None:
    body = _body({"model": "claude-x", "system": "<CCM-SUBAGENT-MODEL>nope</CCM-SUBAGENT-MODEL>"})
    d = make_router().route(body)
    assert d.rule == "subagent" and d.error and "nope" in d.error


# ---- lists of targets --------------------------------------------------------


def test_list_target_concatenates_chains_in_order(make_router: RouterFactory) -> None:
    rules = 'route long when tokens > 100 to ["gemini-2.5-pro", "glm-4.6", "zai,glm-4.6"]\ndefault to model'
    d = make_router(rules=rules).route(
        _body({"model": "x", "messages": [{"role": "user", "content": "word " * 200}]})
    )
    assert d.rule == "long"
    assert d.targets == ("gemini-2.5-pro", "glm-4.6", "zai,glm-4.6")
    # the duplicate (zai, glm-4.6) from the pair is dropped; order is target order then priority
    assert [(e.provider, e.actual_model, e.model) for e in d.chain] == [
        ("openrouter", "google/gemini-2.5-pro", "gemini-2.5-pro"),
        ("zai", "glm-4.6", "glm-4.6"),
        ("openrouter", "z-ai/glm-4.6", "glm-4.6"),
    ]


def test_provider_pair_and_model_word_targets(make_router: RouterFactory) -> None:
    rules = 'route raw when model == "x" to "minimax,abc-1"\ndefault to [model, "glm-4.6"]'
    router = make_router(rules=rules)
    d = router.route(_body({"model": "x"}))
    assert [(e.provider, e.actual_model) for e in d.chain] == [("minimax", "abc-1")]
    d = router.route(_body({"model": "glm-4.5-air"}))
    assert [e.actual_model for e in d.chain] == ["glm-4.5-air", "glm-4.6", "z-ai/glm-4.6"]


# ---- tokens thresholds ----------------------------------------------------------


@pytest.mark.parametrize(("words", "expected"), [(100, "default"), (20_000, "long")])
def test_tokens_threshold(make_router: RouterFactory, words: int, expected: str) -> None:
    rules = 'route long when tokens > 10k to "gemini-2.5-pro"\ndefault to model'
    body = _body({"model": "glm-4.6", "messages": [{"role": "user", "content": "lorem " * words}]})
    assert make_router(rules=rules).route(body).rule == expected


def test_tokens_only_computed_when_a_rule_that_runs_needs_it(make_router: RouterFactory) -> None:
    from ccm.rules.features import Features

    rules = 'route think when thinking to "kimi-k2-thinking"\nroute long when tokens > 1 to "gemini-2.5-pro"\ndefault to model'
    router = make_router(rules=rules)
    body = _body({"model": "glm-4.6", "thinking": {"type": "enabled"}})
    f = Features(body)
    assert router._route(f).rule == "think"
    assert "tokens" not in f.__dict__  # the long rule never ran
    f = Features(_body({"model": "glm-4.6"}))
    assert router._route(f).rule == "long"
    assert f.__dict__["tokens"] > 1


def test_long_context_slot_from_toml(make_router: RouterFactory) -> None:
    toml = '[router]\nlong_context = "gemini-2.5-pro"\nlong_context_threshold = 1000\n'
    router = make_router(router_toml=toml)
    assert (
        router.route(
            _body({"model": "glm-4.6", "messages": [{"role": "user", "content": "x " * 5000}]})
        ).rule
        == "long_context"
    )
    assert router.route(_body({"model": "glm-4.6"})).rule == "default"


# ---- fields ------------------------------------------------------------------------

FIELD_CASES = [
    ('effort == "high"', {"output_config": {"effort": "high"}}, True),
    ('effort == "high"', {"output_config": "high"}, False),
    ("thinking.budget >= 8k", {"thinking": {"type": "enabled", "budget_tokens": 8000}}, True),
    ("thinking.budget >= 8k", {"thinking": {"type": "enabled", "budget_tokens": 7999}}, False),
    (
        "messages > 1",
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
        True,
    ),
    ("max_tokens == 64_000", {"max_tokens": 64000}, True),
    ("stream", {"stream": True}, True),
    ("not stream", {"stream": "yes"}, True),
    ('tools.name in ["Bash", "Edit"]', {"tools": [{"name": "Read"}, {"name": "Edit"}]}, True),
    ("tools !~ /^mcp__/", {"tools": [{"name": "Read"}, {"name": "mcp__x"}]}, False),
    ("tools !~ /^mcp__/", {"tools": [{"name": "Read"}]}, True),
    ('tools == "Read"', {"tools": [{"name": "Read"}]}, True),
    ('tools != "Read"', {"tools": [{"name": "Read"}]}, False),
    ("metadata.user_id ~ /session/", {"metadata": {"user_id": '{"session_id": "1"}'}}, True),
    ('header("X-Team") == "infra"', {}, True),
    ('header("x-other") == ""', {}, True),
    ("image", {"messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]}, True),
    (
        "image",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "content": [{"type": "image", "source": {}}]}
                    ],
                }
            ]
        },
        True,
    ),
    (
        "image",
        {
            "messages": [
                {"role": "user", "content": [{"type": "image"}]},
                {"role": "user", "content": "now text"},
            ]
        },
        False,
    ),
    (
        'last_user ~ /deploy/ and not (model in ["a", "b"])',
        {"messages": [{"role": "user", "content": "please deploy"}]},
        True,
    ),
    ("messages == 1 or tokens > 1m", {}, True),
    ('model not in ["glm-4.6"]', {}, False),
]


@pytest.mark.parametrize(("cond", "extra", "held"), FIELD_CASES, ids=[c[0] for c in FIELD_CASES])
def test_fields(make_router: RouterFactory, cond: str, extra: dict, held: bool) -> None:
    router = make_router(rules=f'route hit when {cond} to "glm-4.5-air"\ndefault to model')
    d = router.route(_body({"model": "glm-4.6", **extra}), {"x-team": "infra"})
    assert (d.rule == "hit") is held


@pytest.mark.parametrize(
    "name",
    sorted(p.name for p in (EXAMPLES / "requests").glob("*.json") if "headers" not in p.name),
)
def test_example_requests_route_without_error(name: str) -> None:
    from ccm.config.load import load_config
    from ccm.rules.explain import request_of
    from ccm.rules.load import build_router

    body, headers = request_of(json.loads((EXAMPLES / "requests" / name).read_text()))
    for cfg in ("config.toml", "config-rules.toml"):
        d = build_router(load_config(EXAMPLES / cfg)).route(body, headers)
        assert d.error is None, (cfg, d.error)
