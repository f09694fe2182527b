"""The offline token estimate: text of several scripts, tools, images by their real size."""

from __future__ import annotations

import base64
import json
import struct
import zlib

import pytest

from ccm.rules.imagesize import dimensions, image_tokens
from ccm.rules.tokens import IMAGE_TOKENS, estimate_tokens, text_tokens
from tests.conftest import EXAMPLES


def _png(w: int, h: int) -> str:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))  # noqa: E731
    return base64.b64encode(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")
    ).decode()


def _jpeg(w: int, h: int) -> str:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, h, w, 1) + b"\x01\x11\x00"
    return base64.b64encode(b"\xff\xd8" + app0 + sof + b"\xff\xd9").decode()


def _gif(w: int, h: int) -> str:
    return base64.b64encode(b"GIF89a" + struct.pack("<HH", w, h) + b"\x00" * 8).decode()


@pytest.mark.parametrize("make", [_png, _jpeg, _gif])
def test_dimensions_of_common_formats(make) -> None:
    assert dimensions(make(1280, 800)) == (1280, 800)


def test_image_tokens_follow_the_resize_rules() -> None:
    assert image_tokens(200, 200) == 54  # 40,000 px / 750
    assert image_tokens(1092, 1092) == 1590  # the largest square sent as it is
    assert 1580 <= image_tokens(4000, 3000) <= 1600  # resized down to about 1.19 MP
    assert image_tokens(1000, 1000) == 1334


def test_image_block_uses_its_size() -> None:
    small = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": "image/png",
                            "data": _png(100, 100),
                        },
                    }
                ],
            }
        ]
    }
    url = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}],
            }
        ]
    }
    assert 10 < estimate_tokens(small) < 30
    assert estimate_tokens(url) >= IMAGE_TOKENS


def test_text_scripts() -> None:
    assert 20 < text_tokens("The quick brown fox jumps over the lazy dog. " * 3) < 45
    assert 9 <= text_tokens("日本語のテキストです。") <= 12  # about a token per character
    assert text_tokens("") == 0


def test_system_messages_and_tools_all_count() -> None:
    base = {"messages": [{"role": "user", "content": "hi"}]}
    with_system = {**base, "system": [{"type": "text", "text": "word " * 400}]}
    tools = [
        {"name": f"T{i}", "description": "does a thing " * 20, "input_schema": {"type": "object"}}
        for i in range(10)
    ]
    with_tools = {**base, "tools": tools}
    assert estimate_tokens(with_system) - estimate_tokens(base) > 400
    assert estimate_tokens(with_tools) - estimate_tokens(base) > 500


def test_claude_code_request_is_in_the_expected_range() -> None:
    body = json.loads((EXAMPLES / "requests/claude-code-main-turn.json").read_text())
    # 24 tools (~21 KB of Workflow schema alone) and a 5.7k-char system prompt: ~15-25k tokens
    assert 15_000 < estimate_tokens(body) < 25_000
