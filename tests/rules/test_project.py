"""`project "path-or-glob" { ... }` blocks: routes that apply first for one project."""

from __future__ import annotations

import os

import pytest

from ccm.diagnostics import DiagnosticError
from ccm.rules.compile import ProjectGate
from ccm.rules.explain import explain, format_explanation
from tests.conftest import RouterFactory
from tests.rules.test_claude_code_traffic import capture

RULES = """\
rewrite when model ~ /^claude-/ to "minimax-m2"
project "/home/user/project" {
  route plan when plan_mode to "kimi-k2-thinking"
  default to "glm-4.6"
}
project "/srv/*/api" {
  route bg when title to "glm-4.5-air"
}
route think when thinking.type == "enabled" to "kimi-k2-thinking"
default to model
"""


def _req(workdir: str | None, **extra: object) -> dict:
    system = "You are Claude Code."
    if workdir is not None:
        system += f"\n# Environment\n - Primary working directory: {workdir}\n - Platform: linux"
    return {
        "model": "claude-opus-4-8",
        "system": [{"type": "text", "text": system}],
        "messages": [{"role": "user", "content": "hi"}],
        **extra,
    }


@pytest.mark.parametrize(
    ("workdir", "extra", "rule", "model"),
    [
        ("/home/user/project", {}, "project-default", "glm-4.6"),
        ("/home/user/project/sub/dir", {}, "project-default", "glm-4.6"),  # below it
        ("/home/user/project-other", {}, "default", "minimax-m2"),  # a prefix, not a parent
        ("/home/user", {}, "default", "minimax-m2"),
        (None, {}, "default", "minimax-m2"),  # title calls state no directory
        # the block's routes come before the file's
        ("/home/user/project", {"thinking": {"type": "enabled"}}, "project-default", "glm-4.6"),
        ("/elsewhere", {"thinking": {"type": "enabled"}}, "think", "kimi-k2-thinking"),
        # a glob; a block without a default falls through to the file's routes
        ("/srv/shop/api", {}, "default", "minimax-m2"),
        ("/srv/shop/web", {"thinking": {"type": "enabled"}}, "think", "kimi-k2-thinking"),
    ],
)
def test_project_blocks_route_first_for_their_project(
    make_router: RouterFactory, workdir: str | None, extra: dict, rule: str, model: str
) -> None:
    d = make_router(rules=RULES).route(_req(workdir, **extra))
    assert (d.rule, d.model) == (rule, model)


def test_a_block_route_on_a_real_capture(make_router: RouterFactory) -> None:
    router = make_router(rules=RULES)
    body, headers = capture("plan-mode")  # working directory /home/user/project, plan mode on
    d = router.route(body, headers)
    assert (d.rule, d.model) == ("plan", "kimi-k2-thinking")
    assert d.location.endswith("test.rules:3")
    exp = explain(router, body, headers)
    plan = next(t for t in exp["trace"] if t["rule"] == "plan")
    assert plan["checks"][0] == {
        "expr": 'project "/home/user/project"',
        "value": '"/home/user/project"',
        "held": True,
    }
    assert 'project "/home/user/project"  — "/home/user/project"' in format_explanation(exp)


def test_glob_block_route(make_router: RouterFactory) -> None:
    router = make_router(rules=RULES)
    body = _req("/srv/shop/api", output_config={"format": {"type": "json_schema", "schema": {}}})
    assert router.route(body).rule == "bg"


@pytest.mark.parametrize(
    ("pattern", "project", "held"),
    [
        ("~/work", os.path.expanduser("~/work/acme"), True),
        ("~/work/", os.path.expanduser("~/work"), True),
        ("/a/*", "/a/b", True),
        ("/a/*", "/a/b/c", True),  # * crosses /
        ("/a/b?", "/a/bc/d", True),
        ("/a/b?", "/a/b", False),
        ("/", "/anything", True),
        ("/a", "", False),
    ],
)
def test_project_gate(pattern: str, project: str, held: bool) -> None:
    assert ProjectGate(pattern).matches(project) is held


@pytest.mark.parametrize(
    ("rules", "fragment", "line"),
    [
        (
            'route a when thinking to "glm-4.6"\nproject "/x" { default to "glm-4.6" }\ndefault to model',
            "a project block must come before every route outside it",
            2,
        ),
        (
            'project "/x" { default to "glm-4.6"\n route a when thinking to "glm-4.6" }\ndefault to model',
            "nothing may follow `default`",
            2,
        ),
        ('project "" { default to "glm-4.6" }\ndefault to model', "project needs a directory", 1),
        ('project "work" { default to "glm-4.6" }\ndefault to model', "absolute directory", 1),
        (
            'project "/x" { route a when true to "glm-4.6"\n route b when thinking to "glm-4.6" }\ndefault to model',
            "unreachable",
            2,
        ),
        ('project "/x" { default to "nope" }\ndefault to model', 'target "nope" names no', 1),
        (
            'project "/x" { route a when thinking to "glm-4.6" }\nrewrite to "glm-4.6"\ndefault to model',
            "rewrite must come before every route",
            2,
        ),
        ('project "/x" { default to "glm-4.6" ', "unexpected end of file", 1),
    ],
)
def test_project_block_errors(
    make_router: RouterFactory, rules: str, fragment: str, line: int
) -> None:
    with pytest.raises(DiagnosticError) as info:
        make_router(rules=rules)
    errors = info.value.errors
    assert any(fragment in e.message and e.line == line for e in errors), [
        e.format() for e in errors
    ]


def test_same_route_name_in_two_blocks_is_fine(make_router: RouterFactory) -> None:
    rules = (
        'project "/a" { route fast when true to "glm-4.5-air" }\n'
        'project "/b" { route fast when true to "glm-4.6" }\n'
        "default to model"
    )
    router = make_router(rules=rules)
    assert router.route(_req("/b/x")).model == "glm-4.6"
    assert router.route(_req("/a")).model == "glm-4.5-air"


def test_project_is_still_a_field_and_a_route_name(make_router: RouterFactory) -> None:
    rules = 'route project when project ~ /\\/srv\\// to "glm-4.6"\ndefault to model'
    assert make_router(rules=rules).route(_req("/srv/x")).rule == "project"
