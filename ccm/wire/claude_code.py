"""What Claude Code's own traffic carries, read one way for everyone (routing, ledger, dialects).

`metadata.user_id` is a JSON string in Claude Code 2.1 (`{"device_id": ..., "account_uuid": ...,
"session_id": ...}`); older releases sent `user_<hash>_account_<uuid>_session_<uuid>`.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import msgspec

_OLD_FORM = re.compile(r"_session_([0-9A-Za-z-]+)$")
_decode = msgspec.json.decode


def user_id(body: Any) -> str | None:
    metadata = body.get("metadata") if isinstance(body, dict) else None
    value = metadata.get("user_id") if isinstance(metadata, dict) else None
    return value if isinstance(value, str) and value else None


def session_id(body: Any) -> str | None:
    """The Claude Code session a request belongs to, or None when it names none."""
    uid = user_id(body)
    if uid is None:
        return None
    if uid.startswith("{"):
        try:
            parsed = _decode(uid)
        except msgspec.DecodeError:
            return None
        session = parsed.get("session_id") if isinstance(parsed, dict) else None
        return session if isinstance(session, str) and session else None
    m = _OLD_FORM.search(uid)
    return m.group(1) if m else None


def stable_user(body: Any) -> str | None:
    """A short id of the user behind a request that stays the same across sessions (the
    session part of metadata.user_id left out), for upstream `user` fields: a hash, so the
    device and account ids themselves never leave ccm."""
    uid = user_id(body)
    if uid is None:
        return None
    key = uid
    if uid.startswith("{"):
        try:
            parsed = _decode(uid)
        except msgspec.DecodeError:
            parsed = None
        if isinstance(parsed, dict):
            key = f"{parsed.get('device_id')}|{parsed.get('account_uuid')}"
    else:
        key = _OLD_FORM.sub("", uid)
    return "ccm-" + hashlib.sha256(key.encode()).hexdigest()[:24]
