"""What rules can ask of a request, computed lazily from the decoded JSON body.

Every accessor tolerates any JSON shape: a missing or mistyped part reads as empty
("" / 0 / False / []), so routing never raises on a strange body. `strip` edits the
same places that `system` and `last_user` read, through one walker each.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ccm.wire import claude_code

Slot = tuple[Any, Any]  # (container, key): container[key] is a str to read or rewrite


def _text_slots(content: Any) -> Iterator[Slot]:
    """Text places of a message content (a string, or a list of blocks)."""
    if isinstance(content, str):
        return
    if isinstance(content, list):
        for block in content:
            if (
                isinstance(block, dict)
                and block.get("type") == "text"
                and isinstance(block.get("text"), str)
            ):
                yield block, "text"


def _content_slots(holder: dict[str, Any], key: str) -> Iterator[Slot]:
    value = holder.get(key)
    if isinstance(value, str):
        yield holder, key
    else:
        yield from _text_slots(value)


def system_slots(body: dict[str, Any]) -> Iterator[Slot]:
    """Every system text: `system` (string or blocks) and system-role messages."""
    if "system" in body:
        yield from _content_slots(body, "system")
    messages = body.get("messages")
    if isinstance(messages, list):
        for m in messages:
            if isinstance(m, dict) and m.get("role") == "system":
                yield from _content_slots(m, "content")


def _last_user(body: dict[str, Any]) -> dict[str, Any] | None:
    messages = body.get("messages")
    if isinstance(messages, list):
        for m in reversed(messages):
            if isinstance(m, dict) and m.get("role") == "user":
                return m
    return None


def last_user_slots(body: dict[str, Any]) -> Iterator[Slot]:
    m = _last_user(body)
    if m is not None:
        yield from _content_slots(m, "content")


STRIP_SLOTS: dict[str, Callable[[dict[str, Any]], Iterator[Slot]]] = {
    "system": system_slots,
    "last_user": last_user_slots,
}


def apply_strip(body: dict[str, Any], field: str, pattern: re.Pattern[str]) -> int:
    """Remove every match of `pattern` from the texts `field` reads. Returns the count."""
    removed = 0
    for holder, key in list(STRIP_SLOTS[field](body)):
        new, n = pattern.subn("", holder[key])
        if n:
            holder[key] = new
            removed += n
    return removed


def _has_image(content: Any) -> bool:
    if not isinstance(content, list):
        return False
    for block in content:
        if isinstance(block, dict):
            t = block.get("type")
            if t == "image":
                return True
            if t == "tool_result" and _has_image(block.get("content")):
                return True
    return False


def _image_slots(body: dict[str, Any]) -> Iterator[tuple[list[Any], int]]:
    """Every image block of the conversation, as (its list, its index): in any user turn (the
    only place the Messages API takes them), inside tool results too (Claude Code's Read tool
    returns images there)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    for m in messages:
        if not isinstance(m, dict) or m.get("role") != "user":
            continue
        content = m.get("content")
        if isinstance(content, list):
            yield from _images_in(content)


def _images_in(content: list[Any]) -> Iterator[tuple[list[Any], int]]:
    for i, block in enumerate(content):
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "image":
            yield content, i
        elif kind == "tool_result" and isinstance(block.get("content"), list):
            yield from _images_in(block["content"])


def replace_images(body: dict[str, Any], note: str) -> int:
    """Replace every image of the conversation by a text block `note` (for a model that takes
    no images). Returns the count."""
    slots = list(_image_slots(body))
    for content, i in slots:
        content[i] = {"type": "text", "text": note}
    return len(slots)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


class cached_property:
    """functools.cached_property without the per-access lock Python 3.11 takes (3.12 dropped
    it): a request's features are computed by one task, and the lock was a third of a cheap
    feature's cost. A non-data descriptor: once computed, the instance attribute shadows it."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn
        self.name = fn.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)
        return value


class Features:
    """One request as rules see it. Fields are computed on first use and cached."""

    def __init__(self, body: Any, headers: Mapping[str, str] | None = None) -> None:
        self.body: dict[str, Any] = body if isinstance(body, dict) else {}
        self.headers = headers if headers is not None else {}
        self.original_model: str = _str(self.body.get("model"))
        self.model: str = self.original_model  # rewrites change this one
        # per rule tried: named groups bound by its regexes, and what `strip` should remove
        self.captures: dict[str, str] = {}
        self.hits: list[tuple[str, re.Pattern[str]]] = []

    def header(self, name: str) -> str:
        return claude_code.header(self.headers, name)

    def _tool_strings(self, key: str) -> list[str]:
        out: list[str] = []
        tools = self.body.get("tools")
        if isinstance(tools, list):
            for t in tools:
                if isinstance(t, dict):
                    v = t.get(key)
                    if isinstance(v, str):
                        out.append(v)
        return out

    @cached_property
    def tool_types(self) -> list[str]:
        return self._tool_strings("type")

    @cached_property
    def tool_names(self) -> list[str]:
        return self._tool_strings("name")

    @cached_property
    def tools(self) -> list[str]:
        return self.tool_types + self.tool_names

    @cached_property
    def thinking_type(self) -> str:
        t = self.body.get("thinking")
        return _str(t.get("type")) if isinstance(t, dict) else ""

    @cached_property
    def thinking_budget(self) -> int:
        t = self.body.get("thinking")
        return _int(t.get("budget_tokens")) if isinstance(t, dict) else 0

    @cached_property
    def effort(self) -> str:
        oc = self.body.get("output_config")
        return _str(oc.get("effort")) if isinstance(oc, dict) else ""

    @cached_property
    def system(self) -> list[str]:
        return [holder[key] for holder, key in system_slots(self.body)]

    @cached_property
    def last_user(self) -> str:
        m = _last_user(self.body)
        if m is None:
            return ""
        content = m.get("content")
        if isinstance(content, str):
            return content
        return "\n".join(holder[key] for holder, key in _text_slots(content))

    @cached_property
    def image(self) -> bool:
        m = _last_user(self.body)
        return m is not None and _has_image(m.get("content"))

    @cached_property
    def images(self) -> int:
        """Images anywhere in the conversation (the `image` field: the latest user turn)."""
        return sum(1 for _ in _image_slots(self.body))

    @cached_property
    def web_search(self) -> bool:
        """The request offers Anthropic's web_search server tool."""
        return any(t.startswith("web_search") for t in self.tool_types)

    @cached_property
    def messages(self) -> int:
        ms = self.body.get("messages")
        return len(ms) if isinstance(ms, list) else 0

    @cached_property
    def tokens(self) -> int:
        from ccm.rules.tokens import estimate_tokens

        return estimate_tokens(self.body)

    @cached_property
    def metadata_user_id(self) -> str:
        md = self.body.get("metadata")
        return _str(md.get("user_id")) if isinstance(md, dict) else ""

    # Claude Code's own traffic (ccm.wire.claude_code holds what each is read from)

    @cached_property
    def session(self) -> str:
        return claude_code.session(self.body, self.headers)

    @cached_property
    def agent(self) -> str:
        return claude_code.agent_id(self.headers)

    @cached_property
    def subagent(self) -> bool:
        return claude_code.is_subagent(self.body, self.headers)

    @cached_property
    def plan_mode(self) -> bool:
        return claude_code.plan_mode(self.body)

    @cached_property
    def title(self) -> bool:
        return claude_code.is_title_call(self.body)

    @cached_property
    def project(self) -> str:
        return claude_code.project_dir(self.body)

    @cached_property
    def client(self) -> str:
        return claude_code.client(self.headers)


# name -> (type, getter). Types: "str", "int", "bool", "list" (of str).
Getter = Callable[[Features], Any]
FIELDS: dict[str, tuple[str, Getter]] = {
    "model": ("str", lambda f: f.model),
    "original_model": ("str", lambda f: f.original_model),
    "tokens": ("int", lambda f: f.tokens),
    "tools": ("list", lambda f: f.tools),
    "tools.type": ("list", lambda f: f.tool_types),
    "tools.name": ("list", lambda f: f.tool_names),
    "thinking": ("bool", lambda f: f.thinking_type in ("enabled", "adaptive")),
    "thinking.type": ("str", lambda f: f.thinking_type),
    "thinking.budget": ("int", lambda f: f.thinking_budget),
    "effort": ("str", lambda f: f.effort),
    "image": ("bool", lambda f: f.image),
    "images": ("int", lambda f: f.images),
    "system": ("list", lambda f: f.system),
    "last_user": ("str", lambda f: f.last_user),
    "messages": ("int", lambda f: f.messages),
    "max_tokens": ("int", lambda f: _int(f.body.get("max_tokens"))),
    "stream": ("bool", lambda f: f.body.get("stream") is True),
    "metadata.user_id": ("str", lambda f: f.metadata_user_id),
    "session": ("str", lambda f: f.session),
    "subagent": ("bool", lambda f: f.subagent),
    "agent": ("str", lambda f: f.agent),
    "plan_mode": ("bool", lambda f: f.plan_mode),
    "title": ("bool", lambda f: f.title),
    "project": ("str", lambda f: f.project),
    "client": ("str", lambda f: f.client),
}
HEADER_TYPE = "str"


def field_getter(name: str, arg: str | None) -> Getter:
    if name == "header":
        header = arg or ""
        return lambda f: f.header(header)
    return FIELDS[name][1]


def field_type(name: str) -> str | None:
    if name == "header":
        return HEADER_TYPE
    entry = FIELDS.get(name)
    return entry[0] if entry else None
