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
