"""What Claude Code's own traffic carries, read one way for everyone (routing, ledger, dialects).

Every fact here was read off real requests of Claude Code 2.1.197 (examples/requests/):

- `metadata.user_id` is a JSON string in 2.1 (`{"device_id": ..., "account_uuid": ...,
  "session_id": ...}`); older releases sent `user_<hash>_account_<uuid>_session_<uuid>`. The
  same id also travels as the `x-claude-code-session-id` header.
- A subagent's requests carry an `x-claude-code-agent-id` header and `cc_is_subagent=true` in
  the first system block (`x-anthropic-billing-header: cc_version=...; cc_is_subagent=true;`).
- Plan mode shows only as text in a system-role message (or a `<system-reminder>` in a user
  turn): "Plan mode is active." / "Plan mode still active"; leaving it adds "## Exited Plan
  Mode". The latest of these decides.
- Title and summary calls carry the main model's name, thinking disabled, no tools and
  `output_config.format` of type `json_schema`.
- The working directory is stated in the system prompt: "Primary working directory: /path"
  (main agent) or "Working directory: /path" (subagents, inside `<env>`).
- The client is the `user-agent` header: `claude-cli/2.1.197 (external, cli)`; the part in
  brackets names the entry point (`cli`, `sdk-cli`, `claude-vscode`, ...).

Every reader takes any JSON shape and returns "" / False / None for what it cannot find.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

import msgspec

_OLD_FORM = re.compile(r"_session_([0-9A-Za-z-]+)$")
_decode = msgspec.json.decode

AGENT_ID_HEADER = "x-claude-code-agent-id"
SESSION_HEADER = "x-claude-code-session-id"
SUBAGENT_MARK = "cc_is_subagent=true"
PLAN_ON_TAILS = ("lan mode is active", "lan mode still active")  # after "P"
_WORKDIR = re.compile(
    r"(?:^|\n)\s*(?:- )?(?:Primary working directory|Working directory): *(\S[^\n]*)"
)


def header(headers: Mapping[str, str] | None, name: str) -> str:
    """A header by lower-case name, from a dict with lower-case keys or any mapping."""
    if not headers:
        return ""
    value = headers.get(name)
    if value is None:
        for k, v in headers.items():
            if k.lower() == name:
                return v
    return value or ""


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


def session(body: Any, headers: Mapping[str, str] | None = None) -> str:
    """The session id from metadata.user_id, else from the x-claude-code-session-id header."""
    return session_id(body) or header(headers, SESSION_HEADER)


def agent_id(headers: Mapping[str, str] | None) -> str:
    """The subagent's id (x-claude-code-agent-id); "" on the main agent's requests."""
    return header(headers, AGENT_ID_HEADER)


def _first_system_text(body: Any) -> str:
    system = body.get("system") if isinstance(body, dict) else None
    if isinstance(system, str):
        return system
    if isinstance(system, list) and system:
        first = system[0]
        if isinstance(first, dict) and isinstance(first.get("text"), str):
            return first["text"]
    return ""


def is_subagent(body: Any, headers: Mapping[str, str] | None = None) -> bool:
    """A request made by a subagent (the Agent tool), not by the main conversation."""
    return bool(agent_id(headers)) or SUBAGENT_MARK in _first_system_text(body)


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    out: list[str] = []
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                out.append(block["text"])
    return out


def _plan_notice(text: str) -> bool | None:
    """True/False when `text` holds a plan-mode notice (the latest in it decides), else None.
    One backwards scan for "lan mode" per text: every notice holds it ("Plan mode is active",
    "Plan mode still active", "You have exited plan mode"), and a text without it costs one
    rfind (routing reads this on every request of a rule that asks)."""
    end = len(text)
    while True:
        pos = text.rfind("lan mode", 0, end)
        if pos < 1:
            return None
        if text[pos - 1] == "P" and text.startswith(PLAN_ON_TAILS, pos):
            return True
        if text[max(0, pos - 8) : pos] == "exited p":
            return False
        end = pos


def plan_mode(body: Any) -> bool:
    """Plan mode is on: the latest plan-mode notice in the conversation says it is active.
    Claude Code repeats the notice only every few turns, so this looks back as far as needed."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return False
    for m in reversed(messages):
        if not isinstance(m, dict):
            continue
        role = m.get("role")
        if role != "system" and role != "user":
            continue
        content = m.get("content")
        for text in reversed(_texts(content)) if not isinstance(content, str) else (content,):
            found = _plan_notice(text)
            if found is None:
                continue
            if role == "user" and "<system-reminder>" not in text:
                continue  # the user's own words about plan mode are not the harness's notice
            return found
    return False


def is_title_call(body: Any) -> bool:
    """A title or summary call: structured JSON output asked for, no tools offered."""
    if not isinstance(body, dict) or body.get("tools"):
        return False
    oc = body.get("output_config")
    fmt = oc.get("format") if isinstance(oc, dict) else None
    if fmt is None:
        fmt = body.get("output_format")  # the older beta's place
    return isinstance(fmt, dict) and fmt.get("type") == "json_schema"


def project_dir(body: Any) -> str:
    """The working directory Claude Code states in its system prompt; "" when none."""
    system = body.get("system") if isinstance(body, dict) else None
    for text in _texts(system):
        if "orking directory:" in text:
            m = _WORKDIR.search(text)
            if m:
                return m.group(1).strip()
    return ""


def client(headers: Mapping[str, str] | None) -> str:
    """The user agent, e.g. `claude-cli/2.1.197 (external, cli)`."""
    return header(headers, "user-agent")
