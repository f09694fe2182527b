"""Checks of the Anthropic SSE streams the translators produce, shared by their tests:
strict structure, then the official SDK's own models and accumulator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import RawMessageStreamEvent
from pydantic import TypeAdapter

from ccm.dialects.sse import SSEDecoder

EVENT = TypeAdapter(RawMessageStreamEvent)


def check_events(
    raw: bytes, *, signature_deltas: bool = True, pings_inside: bool = True
) -> list[dict]:
    """Strict structural checks of an Anthropic SSE stream; returns the event payloads.
    `signature_deltas`: thinking blocks may carry them; `pings_inside`: pings may appear
    between blocks (else anything there but blocks fails)."""
    dec = SSEDecoder()
    payloads = []
    for ev in dec.feed(raw) + dec.flush():
        data = json.loads(ev.data)
        assert data["type"] == ev.event
        payloads.append(data)
    kinds = [p["type"] for p in payloads]
    assert kinds[:2] == ["message_start", "ping"]
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("message_start") == 1 and kinds.count("message_delta") == 1
    open_index: int | None = None
    open_type = ""
    next_index = 0
    allowed = {
        "text": {"text_delta"},
        "thinking": {"thinking_delta", "signature_delta"}
        if signature_deltas
        else {"thinking_delta"},
        "tool_use": {"input_json_delta"},
        "server_tool_use": {"input_json_delta"},  # a hosted search ccm maps back
        "web_search_tool_result": set(),  # sent whole
    }
    for p in payloads[2:-2]:
        if p["type"] == "content_block_start":
            assert open_index is None, "blocks must not overlap"
            assert p["index"] == next_index
            open_index, open_type = p["index"], p["content_block"]["type"]
            next_index += 1
        elif p["type"] == "content_block_delta":
            assert p["index"] == open_index
            assert p["delta"]["type"] in allowed[open_type]
        elif p["type"] == "content_block_stop":
            assert p["index"] == open_index
            open_index = None
        elif not (pings_inside and p["type"] == "ping"):
            pytest.fail(f"unexpected event {p}")
    assert open_index is None
    return payloads


def accumulate(payloads: list[dict]) -> Any:
    """The final message, built by the SDK's accumulator from the events."""
    snapshot = None
    bufs: dict[int, bytes] = {}
    for p in payloads:
        if p["type"] == "ping":
            continue
        event = EVENT.validate_python(p)  # the SDK's own pydantic models, strictly
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=bufs)
    assert snapshot is not None
    return snapshot
