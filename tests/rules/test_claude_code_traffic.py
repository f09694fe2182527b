"""Golden routing tests on real Claude Code 2.1.197 captures (examples/requests/): the fields
session, subagent, agent, plan_mode, title, project, client, and the [router] slots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ccm.config.load import load_config, parse_config
from ccm.rules.compile import Router
from ccm.rules.explain import explain, format_explanation, request_of
from ccm.rules.features import Features
from ccm.rules.load import build_router
from tests.conftest import EXAMPLES, MODELS_TOML, RouterFactory

SESSION = "00000000-0000-4000-8000-000000000000"


def capture(name: str) -> tuple[dict, dict[str, str]]:
    return request_of(json.loads((EXAMPLES / "requests" / f"claude-code-{name}.json").read_text()))


def body_only(name: str) -> dict:
    return json.loads((EXAMPLES / "requests" / f"claude-code-{name}.json").read_text())


# what each capture is, field by field (read off the wire by hand)
GOLDEN = {
    "subagent": {
        "session": SESSION,
        "subagent": True,
        "agent": "add135b11a0377ecb",
        "plan_mode": False,
        "title": False,
        "project": "/home/user/project",
        "client": "claude-cli/2.1.197 (external, sdk-cli)",
    },
    "plan-mode": {
        "session": SESSION,
        "subagent": False,
        "agent": "",
        "plan_mode": True,
        "title": False,
        "project": "/home/user/project",
        "client": "claude-cli/2.1.197 (external, sdk-cli)",
    },
    "title": {
        "session": SESSION,
        "subagent": False,
        "agent": "",
        "plan_mode": False,
        "title": True,
        "project": "",
        "client": "claude-cli/2.1.197 (external, sdk-cli)",
    },
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_fields_of_each_capture(name: str) -> None:
    body, headers = capture(name)
    f = Features(body, headers)
    assert {k: getattr(f, k) for k in GOLDEN[name]} == GOLDEN[name]


def test_main_turn_and_haiku_background_are_none_of_them() -> None:
    main = Features(body_only("main-turn"))
    assert (main.subagent, main.plan_mode, main.title) == (False, False, False)
    assert main.project == "/home/user/project" and main.session == SESSION
    # the -p title call made with the haiku model (nonessential traffic off) is a title call too
    assert Features(body_only("background")).title is True


FIELD_RULES = """
route agents  when subagent                       to "glm-4.5-air"
route planner when plan_mode                      to "kimi-k2-thinking"
route titles  when title                          to "minimax-m2"
default to "glm-4.6"
"""


@pytest.mark.parametrize(
    ("name", "rule", "model"),
    [
        ("subagent", "agents", "glm-4.5-air"),
        ("plan-mode", "planner", "kimi-k2-thinking"),
        ("title", "titles", "minimax-m2"),
    ],
)
def test_captures_route_by_the_new_fields(
    make_router: RouterFactory, name: str, rule: str, model: str
) -> None:
    router = make_router(rules=FIELD_RULES)
    body, headers = capture(name)
    d = router.route(body, headers)
    assert (d.rule, d.model) == (rule, model)
    exp = explain(router, body, headers)
    assert (exp["rule"], exp["model"]) == (rule, model)


@pytest.mark.parametrize(
    "cond",
    [
        f'session == "{SESSION}"',
        'agent == "add135b11a0377ecb"',
        'project == "/home/user/project"',
        "client ~ /^claude-cli\\/2\\.1\\.\\d+ \\(external, sdk-cli\\)$/",
        "subagent and not plan_mode and not title",
    ],
)
def test_text_fields_route_the_subagent_capture(make_router: RouterFactory, cond: str) -> None:
    router = make_router(rules=f'route hit when {cond} to "glm-4.5-air"\ndefault to "glm-4.6"')
    body, headers = capture("subagent")
    assert router.route(body, headers).rule == "hit"
    plain = {"model": "glm-4.6", "messages": [{"role": "user", "content": "hi"}]}
    assert router.route(plain, {"user-agent": "curl/8"}).rule == "default"


# ---- the claude-code-mux [router] slots on 2.1 traffic ------------------------------------


def mux_router() -> Router:
    return build_router(load_config(EXAMPLES / "config.toml"))


@pytest.mark.parametrize(
    ("name", "rule", "model"),
    [
        ("title", "background", "glm-4.5-air"),  # carries the main model's name
        ("plan-mode", "think", "kimi-for-coding"),  # adaptive thinking like every turn
        ("subagent", "default", "glm-4.6"),  # mux has no slot for Claude Code's own subagents
        ("main-turn", "default", "glm-4.6"),
        ("background", "background", "glm-4.5-air"),
    ],
)
def test_router_slots_classify_claude_code_2_1(name: str, rule: str, model: str) -> None:
    path = EXAMPLES / "requests" / f"claude-code-{name}.json"
    body, headers = request_of(json.loads(path.read_text()))
    d = mux_router().route(body, headers)
    assert (d.rule, d.model) == (rule, model)
    assert d.location.startswith(str(EXAMPLES / "config.toml") + ":")


def test_haiku_with_thinking_is_background_not_think() -> None:
    body = body_only("background")
    body["thinking"] = {"type": "enabled", "budget_tokens": 2048}
    body["output_config"] = {"effort": "high"}  # not a title call any more
    body["tools"] = [{"name": "Bash", "input_schema": {"type": "object"}}]
    d = mux_router().route(body)
    assert (d.rule, d.model) == ("background", "glm-4.5-air")
    # a main model with thinking enabled still goes to think
    body["model"] = "claude-opus-4-8"
    assert mux_router().route(body).rule == "think"


def test_think_slot_without_background_keeps_mux_meaning(tmp_path: Path) -> None:
    text = '[router]\ndefault = "glm-4.6"\nthink = "kimi-k2-thinking"\n' + MODELS_TOML
    router = build_router(parse_config(text, tmp_path / "c.toml"))
    haiku = {
        "model": "claude-haiku-4-5",
        "messages": [{"role": "user", "content": "hi"}],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    assert router.route(haiku).rule == "think"


# ---- plan mode: the latest notice decides ------------------------------------------------


EXITED = (  # Claude Code 2.1.197's notice, as in its binary
    "## Exited Plan Mode\nYou have exited plan mode. You can now make edits, run tools, and take actions."
)


def _msgs(*items: tuple[str, str]) -> dict:
    return {"model": "m", "messages": [{"role": r, "content": t} for r, t in items]}


@pytest.mark.parametrize(
    ("messages", "on"),
    [
        ([("user", "hi"), ("system", "Plan mode is active. The user ...")], True),
        (
            [("system", "Plan mode is active."), ("user", "x"), ("system", EXITED)],
            False,
        ),
        (
            [
                ("system", EXITED),
                (
                    "system",
                    "Plan mode still active (see full instructions earlier in conversation).",
                ),
            ],
            True,
        ),
        ([("user", "<system-reminder>\nPlan mode is active. ...\n</system-reminder>")], True),
        ([("user", "can you explain what 'Plan mode is active' means?")], False),
        ([("assistant", "Plan mode is active")], False),
        ([("user", "hi")], False),
    ],
)
def test_plan_mode_latest_notice_wins(messages: list[tuple[str, str]], on: bool) -> None:
    assert Features(_msgs(*messages)).plan_mode is on


def test_subagent_known_by_billing_mark_without_header() -> None:
    body, _headers = capture("subagent")
    f = Features(body, {})
    assert f.subagent is True and f.agent == ""


# ---- explain shows them; routing computes only what a rule asks --------------------------


def test_explain_shows_the_claude_code_fields() -> None:
    router = build_router(load_config(EXAMPLES / "config-rules.toml"))
    body, headers = capture("subagent")
    exp = explain(router, body, headers)
    feats = exp["features"]
    assert {k: feats[k] for k in GOLDEN["subagent"]} == GOLDEN["subagent"]
    text = format_explanation(exp)
    assert "subagent          true" in text
    assert 'agent             "add135b11a0377ecb"' in text
    assert 'project           "/home/user/project"' in text


def test_fields_are_computed_only_when_a_rule_asks(make_router: RouterFactory) -> None:
    router = make_router(rules='route t when title to "minimax-m2"\ndefault to model')
    body, headers = capture("plan-mode")
    f = Features(body, headers)
    router._route(f)
    assert "title" in f.__dict__
    assert not {"plan_mode", "project", "subagent", "session", "client", "tokens"} & set(f.__dict__)
