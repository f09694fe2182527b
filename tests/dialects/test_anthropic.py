"""The Anthropic dialect's own rules: foreign thinking never reaches an Anthropic upstream,
tool-use ids come back in Anthropic's charset, the stream relay's framing."""

from __future__ import annotations

import json

import pytest

from ccm.dialects.anthropic import StreamRelay, request_bytes, response_bytes
from ccm.dialects.base import TranslationError
from ccm.dialects.roundtrip import sign
from ccm.dialects.sse import encode_event

CCM_SIG = sign("chat", {"f": "reasoning_content"})


def history(last_thinking: dict | None) -> list[dict]:
    last = [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]
    return [
        {"role": "user", "content": "a"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "from gemini", "signature": sign("gemini", {})},
                {"type": "text", "text": "one"},
            ],
        },
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": ([last_thinking] if last_thinking else []) + last},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "x"}]},
    ]


@pytest.mark.parametrize("anthropic_api", [True, False])
def test_ccm_signatures_never_reach_an_anthropic_upstream(anthropic_api: bool) -> None:
    body = {
        "model": "x",
        "thinking": {"type": "adaptive"},
        "messages": history({"type": "thinking", "thinking": "t", "signature": CCM_SIG}),
    }
    sent = json.loads(request_bytes(body, "claude-x", signed_thinking_only=anthropic_api))
    assert "ccm1." not in json.dumps(sent)
    assert sent["messages"][1]["content"] == [{"type": "text", "text": "one"}]
    assert sent["messages"][3]["content"][0]["type"] == "tool_use"
    # the last tool-loop turn lost its thinking: Anthropic's API would refuse thinking now
    assert ("thinking" in sent) is not anthropic_api
    assert body["messages"][3]["content"][0]["signature"] == CCM_SIG  # the client's body is kept


def test_anthropic_signed_thinking_is_kept_with_the_thinking_request() -> None:
    real = {"type": "thinking", "thinking": "t", "signature": "REAL"}
    body = {
        "model": "x",
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": history(real),
    }
    sent = json.loads(request_bytes(body, "claude-x", signed_thinking_only=True))
    assert sent["messages"][3]["content"][0] == real and sent["thinking"]["type"] == "enabled"


def test_vendor_tool_ids_are_mapped_into_anthropics_charset() -> None:
    message = {
        "type": "message",
        "content": [
            {"type": "tool_use", "id": "functions.get_weather:0", "name": "w", "input": {}}
        ],
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    out = json.loads(response_bytes(json.dumps(message).encode(), "claude-x"))
    assert out["model"] == "claude-x"
    assert out["content"][0]["id"].replace("_", "").replace("-", "").isalnum()
    relay = StreamRelay("claude-x")
    start = {"type": "message_start", "message": {"model": "up", "usage": {"input_tokens": 2}}}
    block = {"type": "content_block_start", "index": 0, "content_block": message["content"][0]}
    raw = encode_event("message_start", json.dumps(start).encode()) + encode_event(
        "content_block_start", json.dumps(block).encode()
    )
    out_events = b"".join(relay.feed(raw))
    assert (
        b"functions.get_weather:0" not in out_events
        and out["content"][0]["id"].encode() in out_events
    )


def test_relay_holds_back_until_message_start_and_ends_at_message_stop() -> None:
    with pytest.raises(TranslationError):
        StreamRelay("m").feed(
            b'event: content_block_delta\ndata: {"type":"content_block_delta"}\n\n'
        )
    with pytest.raises(TranslationError):
        StreamRelay("m").feed(
            b'event: error\ndata: {"type":"error","error":{"message":"overloaded"}}\n\n'
        )
    relay = StreamRelay("m")
    assert relay.feed(b'event: ping\ndata: {"type":"ping"}\n\n') == []  # nothing before the start
    relay.feed(b'data: {"type":"message_start","message":{"model":"up"}}\n\n')
    assert relay.started and not relay.done
    assert relay.feed(b'data: {"type":"message_stop"}\n\n') == [
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    ]
    assert relay.done and relay.feed(b'data: {"type":"ping"}\n\n') == []  # nothing after the end
    assert relay.finish() == []
