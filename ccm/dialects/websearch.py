"""Anthropic's `web_search` server tool on translated providers.

Claude Code's WebSearch tool sends its own request for each search: the main model's name, a
user turn "Perform a web search for the query: ...", the server tool
`{"type": "web_search_20250305", "name": "web_search", ...}` as the only tool and
tool_choice naming it. It reads the answer's `server_tool_use` and `web_search_tool_result`
blocks (results, or an error whose `error_code` it shows the model as "Web search error:
...") and its text.

A provider that can search (quirk `web_search`, ccm.dialects.capabilities.searches) gets its
own search in the translated request (the dialect's `payload`), and its results come back
as those two blocks where the upstream says what it searched for (`server_blocks`).

A provider that cannot gets the tool as an ordinary function of the same name with a
`query` parameter (`stub_request`), so the model does not invent results for a tool it
cannot see; when it calls the function, the call is answered here, in the Anthropic answer,
with `server_tool_use` + a `web_search_tool_result` error (`unavailable`) + a sentence saying
why (`fix_message` for a whole answer, `StubStream` for a stream). The router sends such
requests to a websearch route that can search first, when there is one (ccm.rules.compile).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from ccm.dialects.base import Translator, Usage
from ccm.dialects.roundtrip import new_id
from ccm.dialects.sse import SSEDecoder, encode_event

_encode = msgspec.json.encode
_decode = msgspec.json.decode

UNAVAILABLE = "unavailable"  # Anthropic's web_search_tool_result_error code
NOTE = (
    "Web search is not available here: the provider this request was routed to cannot run "
    "web searches, so none was made and there are no results. Do not guess results; say that "
    "the search could not be done. (ccm: route web_search requests to a provider that can "
    "search, e.g. [router] websearch, docs/rules.md.)"
)
STUB_DESCRIPTION = (
    "Search the web for current information. Give the search query as `query`. (When this "
    "provider cannot search, the call is answered with an error: say so rather than guess.)"
)
_QUERY_PREFIX = re.compile(r"^\s*perform a web search for the query:\s*", re.IGNORECASE)


def server_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """The request's web_search server tool (no input_schema, type web_search_...), if any."""
    tools = body.get("tools")
    if not isinstance(tools, list):
        return None
    for tool in tools:
        if (
            isinstance(tool, dict)
            and isinstance(tool.get("type"), str)
            and tool["type"].startswith("web_search")
            and "input_schema" not in tool
        ):
            return tool
    return None


def tool_name(tool: dict[str, Any]) -> str:
    name = tool.get("name")
    return name if isinstance(name, str) and name else "web_search"


def stub_request(body: dict[str, Any], tool: dict[str, Any]) -> dict[str, Any]:
    """The body with the server tool as a function of the same name (a shallow copy)."""
    function = {
        "name": tool_name(tool),
        "description": STUB_DESCRIPTION,
        "input_schema": {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "The search query"}},
            "required": ["query"],
        },
    }
    tools = [function if t is tool else t for t in body["tools"]]
    return {**body, "tools": tools}


def query_of(body: dict[str, Any]) -> str:
    """What the request asks to search for: the latest user text (Claude Code's prefix off)."""
    messages = body.get("messages")
    for m in reversed(messages if isinstance(messages, list) else []):
        if not isinstance(m, dict) or m.get("role") != "user":
            continue
        content = m.get("content")
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):
            text = " ".join(
                b["text"]
                for b in content
                if isinstance(b, dict)
                and b.get("type") == "text"
                and isinstance(b.get("text"), str)
            )
        else:
            text = ""
        return _QUERY_PREFIX.sub("", text).strip()
    return ""


def server_blocks(
    name: str, query: str, results: list[tuple[str, str]], *, tool_id: str | None = None
) -> list[dict[str, Any]]:
    """A search that happened: `server_tool_use` and its `web_search_tool_result` with the
    results as (url, title)."""
    tool_id = tool_id or new_id("srvtoolu_")
    return [
        {"type": "server_tool_use", "id": tool_id, "name": name, "input": {"query": query}},
        {
            "type": "web_search_tool_result",
            "tool_use_id": tool_id,
            "content": [
                {
                    "type": "web_search_result",
                    "url": url,
                    "title": title or url,
                    "encrypted_content": "",
                    "page_age": None,
                }
                for url, title in results
            ],
        },
    ]


def _unavailable(tool_id: str) -> list[dict[str, Any]]:
    """The answer to a search the provider could not make: the error result and the note."""
    return [
        {
            "type": "web_search_tool_result",
            "tool_use_id": tool_id,
            "content": {"type": "web_search_tool_result_error", "error_code": UNAVAILABLE},
        },
        {"type": "text", "text": NOTE},
    ]


def _server_id(tool_id: Any) -> str:
    suffix = tool_id.split("_", 1)[-1] if isinstance(tool_id, str) and tool_id else ""
    return "srvtoolu_" + suffix if suffix else new_id("srvtoolu_")


def _is_stub_call(block: Any, name: str) -> bool:
    return isinstance(block, dict) and block.get("type") == "tool_use" and block.get("name") == name


def stubbed_name(body: dict[str, Any]) -> str | None:
    """The function name a stubbed request's search calls come back under: the server tool's
    name, unless the client has a tool of its own by that name (then nothing is rewritten)."""
    tool = server_tool(body)
    if tool is None:
        return None
    name = tool_name(tool)
    tools = body.get("tools") or []
    if any(t is not tool and isinstance(t, dict) and t.get("name") == name for t in tools):
        return None
    return name


def fix_message(message: dict[str, Any], name: str) -> dict[str, Any]:
    """A whole answer: each call of the stub becomes server_tool_use + the error + the note;
    stop_reason tool_use becomes end_turn when no client tool call is left."""
    content = message.get("content")
    if not isinstance(content, list) or not any(_is_stub_call(b, name) for b in content):
        return message
    out: list[Any] = []
    for block in content:
        if _is_stub_call(block, name):
            server_id = _server_id(block.get("id"))
            out.append({**block, "type": "server_tool_use", "id": server_id})
            out.extend(_unavailable(server_id))
        else:
            out.append(block)
    fixed = {**message, "content": out}
    if fixed.get("stop_reason") == "tool_use" and not any(
        isinstance(b, dict) and b.get("type") == "tool_use" for b in out
    ):
        fixed["stop_reason"] = "end_turn"
    return fixed


class StubStream:
    """A translator's Anthropic SSE output with the stub's calls answered (see module doc):
    the call's block becomes `server_tool_use`, and after it come the error result and the
    note as two more blocks (later blocks are renumbered)."""

    def __init__(self, inner: Translator, name: str) -> None:
        self.inner = inner
        self.name = name
        self._sse = SSEDecoder()
        self._offset = 0  # blocks added so far: later upstream indices move by this much
        self._stub: dict[int, str] = {}  # upstream index of a stub call -> server tool id
        self._client_tools = False

    @property
    def started(self) -> bool:
        return self.inner.started

    @property
    def done(self) -> bool:
        return self.inner.done

    @property
    def usage(self) -> Usage:
        return self.inner.usage

    def feed(self, data: bytes) -> list[bytes]:
        return self._rewrite(self.inner.feed(data))

    def finish(self) -> list[bytes]:
        return self._rewrite(self.inner.finish())

    def _rewrite(self, events: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for chunk in events:
            for ev in self._sse.feed(chunk):
                out.extend(self._event(ev.event, ev.data))
        return out

    def _event(self, name: str, data: str) -> list[bytes]:
        obj = _decode(data)
        index = obj.get("index") if isinstance(obj, dict) else None
        if name == "content_block_start" and isinstance(index, int):
            block = obj.get("content_block")
            if _is_stub_call(block, self.name):
                server_id = _server_id(block.get("id"))
                self._stub[index] = server_id
                obj["content_block"] = {**block, "type": "server_tool_use", "id": server_id}
            elif isinstance(block, dict) and block.get("type") == "tool_use":
                self._client_tools = True
        if name == "message_delta" and not self._client_tools and self._stub:
            delta = obj.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason") == "tool_use":
                delta["stop_reason"] = "end_turn"
        if isinstance(index, int):
            obj["index"] = index + self._offset
        out = [encode_event(name, _encode(obj))]
        if name == "content_block_stop" and isinstance(index, int) and index in self._stub:
            for block in _unavailable(self._stub[index]):
                self._offset += 1
                out.extend(_whole_block(index + self._offset, block))
        return out


def _whole_block(index: int, block: dict[str, Any]) -> list[bytes]:
    """One block as Anthropic streams it: text through a text_delta, others whole."""
    text = block.get("text") if block.get("type") == "text" else None
    first = {**block, "text": ""} if text is not None else block
    start = {"type": "content_block_start", "index": index, "content_block": first}
    out = [encode_event("content_block_start", _encode(start))]
    if text:
        delta = {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "text_delta", "text": text},
        }
        out.append(encode_event("content_block_delta", _encode(delta)))
    stop = {"type": "content_block_stop", "index": index}
    out.append(encode_event("content_block_stop", _encode(stop)))
    return out


__all__ = [
    "NOTE",
    "StubStream",
    "fix_message",
    "query_of",
    "server_blocks",
    "server_tool",
    "stub_request",
    "stubbed_name",
]
