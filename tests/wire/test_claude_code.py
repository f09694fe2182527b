"""Reading Claude Code's session id from metadata.user_id, in both forms it has been sent."""

from __future__ import annotations

import json

import pytest

from ccm.wire.claude_code import session_id


@pytest.mark.parametrize(
    ("user_id", "expected"),
    [
        (json.dumps({"device_id": "d1", "account_uuid": "", "session_id": "s-123"}), "s-123"),
        ("user_abc_account_7f2e_session_0b1c-99aa", "0b1c-99aa"),
        (json.dumps({"device_id": "d1"}), None),
        ("{not json", None),
        ("plain-user", None),
        ("", None),
        (42, None),
    ],
)
def test_session_id(user_id: object, expected: str | None) -> None:
    assert session_id({"metadata": {"user_id": user_id}}) == expected


def test_no_metadata() -> None:
    assert session_id({}) is None
    assert session_id({"metadata": "x"}) is None
    assert session_id([]) is None


def test_stable_user_is_a_hash_that_outlives_sessions() -> None:
    from ccm.wire.claude_code import stable_user

    def body(uid: str) -> dict:
        return {"metadata": {"user_id": uid}}

    a = stable_user(body(json.dumps({"device_id": "d", "account_uuid": "a", "session_id": "s1"})))
    b = stable_user(body(json.dumps({"device_id": "d", "account_uuid": "a", "session_id": "s2"})))
    assert a == b and a is not None and a.startswith("ccm-") and len(a) == 28
    old1 = stable_user(body("user_x_account_y_session_1"))
    assert old1 == stable_user(body("user_x_account_y_session_2")) != a
    assert stable_user({}) is None


def test_session_falls_back_to_the_header() -> None:
    from ccm.wire.claude_code import session

    assert session({}, {"X-Claude-Code-Session-Id": "s-9"}) == "s-9"
    body = {"metadata": {"user_id": json.dumps({"session_id": "s-1"})}}
    assert session(body, {"x-claude-code-session-id": "s-9"}) == "s-1"
    assert session({}, None) == ""


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        (
            "# Environment\n - Primary working directory: /srv/app\n - Is a git repository: true",
            "/srv/app",
        ),
        (
            [
                {
                    "type": "text",
                    "text": "<env>\nWorking directory: /home/a b/x\nPlatform: linux\n</env>",
                }
            ],
            "/home/a b/x",
        ),
        (
            [
                {
                    "type": "text",
                    "text": "Switches the session's working directory to the new worktree",
                }
            ],
            "",
        ),
        (None, ""),
    ],
)
def test_project_dir(system: object, expected: str) -> None:
    from ccm.wire.claude_code import project_dir

    assert project_dir({"system": system}) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"output_config": {"format": {"type": "json_schema", "schema": {}}}}, True),
        ({"output_format": {"type": "json_schema", "schema": {}}}, True),
        (
            {"output_config": {"format": {"type": "json_schema"}}, "tools": [{"name": "Bash"}]},
            False,
        ),
        ({"output_config": {"effort": "high"}}, False),
        ({"output_config": "x"}, False),
    ],
)
def test_title_call(body: dict, expected: bool) -> None:
    from ccm.wire.claude_code import is_title_call

    assert is_title_call(body) is expected


def test_subagent_by_header_or_billing_mark() -> None:
    from ccm.wire.claude_code import agent_id, is_subagent

    mark = {
        "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_is_subagent=true;"}]
    }
    assert is_subagent(mark) and not is_subagent({"system": "cc_is_subagent=false"})
    assert is_subagent({}, {"X-Claude-Code-Agent-Id": "a1"})
    assert agent_id({"x-claude-code-agent-id": "a1"}) == "a1" and agent_id(None) == ""
