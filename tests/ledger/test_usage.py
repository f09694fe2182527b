"""Reading usage from the Anthropic-shaped answer: messages, streams, error events."""

from __future__ import annotations

import json

from ccm.ledger.usage import StreamTap, error_type, message_usage, stream_usage


def sse(name: str, obj: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps(obj)}\n\n".encode()


START = sse(
    "message_start",
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "role": "assistant",
            "content": [],
            "usage": {
                "input_tokens": 12,
                "cache_read_input_tokens": 100,
                "cache_creation_input_tokens": 40,
                "output_tokens": 1,
            },
        },
    },
)
TEXT = sse(
    "content_block_delta",
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": 'the key "usage" and event: error in text'},
    },
)
DELTA = sse(
    "message_delta",
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}},
)
STOP = sse("message_stop", {"type": "message_stop"})


def tapped(*chunks: bytes) -> list[bytes]:
    tap = StreamTap()
    for c in chunks:
        tap.feed(c)
    return tap.kept


def test_stream_usage_from_start_and_final_delta() -> None:
    kept = tapped(START, TEXT, DELTA, STOP)
    assert kept == [START, DELTA]  # text mentioning "usage" (escaped quotes) is not kept
    u = stream_usage(kept)
    assert (u.input_tokens, u.output_tokens) == (12, 9)
    assert (u.cache_read_input_tokens, u.cache_creation_input_tokens) == (100, 40)
    assert u.error_type is None


def test_late_cache_fields_in_message_delta_win() -> None:
    late = sse(
        "message_delta",
        {
            "type": "message_delta",
            "usage": {"output_tokens": 30, "input_tokens": 15, "cache_read_input_tokens": 7},
        },
    )
    u = stream_usage(tapped(START + TEXT, late))  # several events in one chunk
    assert (u.input_tokens, u.output_tokens, u.cache_read_input_tokens) == (15, 30, 7)


def test_stream_error_event_is_recorded() -> None:
    err = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"x"}}\n\n'
    u = stream_usage(tapped(START, TEXT, err))
    assert u.error_type == "overloaded_error" and u.input_tokens == 12


def test_message_usage_and_garbage() -> None:
    body = json.dumps(
        {
            "id": "m",
            "content": [{"type": "text", "text": "x"}],
            "usage": {"input_tokens": 3, "output_tokens": 4},
        }
    ).encode()
    u = message_usage(body)
    assert (u.input_tokens, u.output_tokens, u.cache_read_input_tokens) == (3, 4, None)
    assert not message_usage(b"not json").known
    assert not message_usage(b'{"usage": "nonsense"}').known
    bad = message_usage(b'{"usage": {"input_tokens": -5, "output_tokens": true}}')
    assert not bad.known


def test_error_type_of_an_error_body() -> None:
    assert error_type(b'{"type":"error","error":{"type":"rate_limit_error","message":"m"}}') == (
        "rate_limit_error"
    )
    assert error_type(b"<html>") is None
