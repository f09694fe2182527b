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
