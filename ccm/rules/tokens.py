"""Offline input-token estimate for routing (`tokens`) and count_tokens fallbacks.

No vocabulary is loaded: a character-class heuristic tuned on Claude-style text. ASCII
text and code run about 3.7 characters a token; other scripts about one token a character.
"""

from __future__ import annotations

from typing import Any

import msgspec

_ASCII_CHARS_PER_TOKEN = 3.7
IMAGE_TOKENS = 1600  # a typical screenshot after the API's resize (~1.15 MP / 750)
MESSAGE_OVERHEAD = 4
TOOL_OVERHEAD = 8
_encode = msgspec.json.encode


def text_tokens(s: str) -> float:
    n = len(s)
    if s.isascii():
        return n / _ASCII_CHARS_PER_TOKEN
    extra = len(s.encode("utf-8")) - n  # 1 per 2-byte char, 2 per 3-byte char ...
    wide = min(n, extra // 2 + extra % 2)
    return (n - wide) / _ASCII_CHARS_PER_TOKEN + wide


def _json_tokens(value: Any) -> float:
    try:
        return len(_encode(value)) / _ASCII_CHARS_PER_TOKEN
    except (TypeError, msgspec.EncodeError):
        return 0.0


def _image_tokens(source: Any) -> float:
    """From the image's own size when it is inline base64; a typical screenshot otherwise."""
    if (
        isinstance(source, dict)
        and source.get("type") == "base64"
        and isinstance(source.get("data"), str)
    ):
        from ccm.rules.imagesize import dimensions, image_tokens

        dims = dimensions(source["data"])
        if dims is not None:
            return image_tokens(*dims)
    return IMAGE_TOKENS


def _content_tokens(content: Any) -> float:
    if isinstance(content, str):
        return text_tokens(content)
    if not isinstance(content, list):
        return 0.0
    total = 0.0
    for block in content:
        if not isinstance(block, dict):
            continue
        t = block.get("type")
        if t == "text":
            total += (
                text_tokens(block.get("text") or "") if isinstance(block.get("text"), str) else 0
            )
        elif t == "image":
            total += _image_tokens(block.get("source"))
        elif t == "document":
            total += (
                _json_tokens(block.get("source")) / 4
            )  # base64 PDF: far fewer tokens than bytes
        elif t == "tool_use":
            total += text_tokens(str(block.get("name") or "")) + _json_tokens(block.get("input"))
        elif t == "tool_result":
            total += _content_tokens(block.get("content"))
        elif t == "thinking":
            th = block.get("thinking")
            total += text_tokens(th) if isinstance(th, str) else 0
        else:
            total += _json_tokens(block)
    return total


def estimate_tokens(body: dict[str, Any]) -> int:
    """Estimated input tokens of a Messages request: system, messages, tools, images."""
    total = 0.0
    total += _content_tokens(body.get("system"))
    messages = body.get("messages")
    if isinstance(messages, list):
        for m in messages:
            if isinstance(m, dict):
                total += MESSAGE_OVERHEAD + _content_tokens(m.get("content"))
    tools = body.get("tools")
    if isinstance(tools, list):
        for tool in tools:
            total += TOOL_OVERHEAD + _json_tokens(tool)
    return int(total + 0.5)
