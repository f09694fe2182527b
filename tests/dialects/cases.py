"""What the dialect tests share: the example requests, a tool-loop history, hypothesis
strategies for any request body a client might send, and the checks every translator's
answer and stream must pass."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from anthropic.types import Message as AnthropicMessage
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.anthropic_events import accumulate, check_events

REQUESTS = Path(__file__).resolve().parents[2] / "examples" / "requests"


def load(name: str) -> dict[str, Any]:
    """An example request from examples/requests."""
    return json.loads((REQUESTS / name).read_text())


def check_message(msg: dict) -> AnthropicMessage:
    """A whole answer as the Anthropic SDK reads it, with a message id and role."""
    parsed = AnthropicMessage.model_validate(msg)
    assert msg["id"].startswith("msg_")
    assert msg["type"] == "message" and msg["role"] == "assistant"
    return parsed


def blocks_of(snapshot: Any) -> list[dict]:
    return [b.to_dict() for b in snapshot.content]


def split(text: str, cuts: list[int]) -> list[str]:
    """`text` cut at the `cuts` (taken modulo its length), empty pieces included."""
    points = sorted({c % (len(text) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(text[last:p])
        last = p
    pieces.append(text[last:])
    return pieces


def translate_all(
    tr: Any,
    events: list[str],
    *,
    late: str,
    check: Callable[[bytes], list[dict]] = check_events,
) -> tuple[list[dict], Any]:
    """Feed a stream translator every upstream event, then finish: its Anthropic events
    (checked by `check`) and the message the SDK accumulates from them. A second finish and
    a `late` event after the end add nothing."""
    out: list[bytes] = []
    for e in events:
        out += tr.event(e)
    out += tr.finish()
    assert tr.started
    assert tr.finish() == [] and tr.event(late) == []  # idempotent; nothing after the end
    payloads = check(b"".join(out))
    return payloads, accumulate(payloads)


# a user turn, an assistant turn with reasoning, text and two calls, and a user turn that
# answers them out of order (one an error) between two texts
TWO_CALLS: list[dict[str, Any]] = [
    {"role": "user", "content": "go"},
    {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "redacted_thinking", "data": "xx"},
            {"type": "text", "text": "Running two."},
            {"type": "tool_use", "id": "t1", "name": "A", "input": {"x": 1}},
            {"type": "tool_use", "id": "t2", "name": "B", "input": {}},
        ],
    },
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "before"},
            {"type": "tool_result", "tool_use_id": "t2", "content": "two"},
            {
                "type": "tool_result",
                "tool_use_id": "t1",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                "is_error": True,
            },
            {"type": "text", "text": "after"},
        ],
    },
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
block_types = st.sampled_from(
    ["text", "image", "document", "tool_use", "tool_result", "thinking", "search_result", "zzz"]
)
blocks = st.fixed_dictionaries(
    {"type": block_types},
    optional={
        "text": json_values,
        "source": json_values,
        "content": json_values,
        "id": st.sampled_from(["t1", "t2"]) | json_values,
        "tool_use_id": st.sampled_from(["t1", "t2"]) | json_values,
        "input": json_values,
        "name": json_values,
        "is_error": json_values,
        "signature": json_values,
    },
)
messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "assistant", "system", "tool", "x"]),
            "content": st.one_of(
                st.text(max_size=5), st.lists(blocks | json_values, max_size=4), json_values
            ),
        }
    ),
    max_size=6,
)

# any request body: every field a client may send, of any JSON shape
bodies = st.fixed_dictionaries(
    {
        "messages": messages,
        "system": json_values,
        "tools": json_values,
        "thinking": json_values,
        "tool_choice": json_values,
        "metadata": json_values,
        "output_config": json_values,
    }
)
NEVER_CRASHES = settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])


# a tool call whose result carries text and an image
def image_tool_turns(source: dict[str, Any], *after: dict[str, Any]) -> list[dict[str, Any]]:
    """A tool call `t1` and the user turn answering it with only an image (`source`), then
    the `after` blocks."""
    result = {
        "type": "tool_result",
        "tool_use_id": "t1",
        "content": [{"type": "image", "source": source}],
    }
    return [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Shot"}]},
        {"role": "user", "content": [result, *after]},
    ]


IMAGE_RESULT: list[dict[str, Any]] = [
    {"role": "user", "content": "shot"},
    {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "t1", "name": "Shot", "input": {}}],
    },
    {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "t1",
                "content": [
                    {"type": "text", "text": "here"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAAA"},
                    },
                ],
            }
        ],
    },
]


def thinking_request(thinking: dict | None, output_config: dict | None = None) -> dict:
    """A one-turn request with these `thinking` and `output_config` (None: left out)."""
    body: dict[str, Any] = {"max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    if thinking:
        body["thinking"] = thinking
    if output_config:
        body["output_config"] = output_config
    return body


# Claude Code's thinking / output_config -> the reasoning effort an OpenAI-style upstream gets
THINKING_EFFORT = [
    (thinking_request({"type": "enabled", "budget_tokens": 1024}), "low"),
    (thinking_request({"type": "enabled", "budget_tokens": 4096}), "medium"),
    (thinking_request({"type": "enabled", "budget_tokens": 16383}), "medium"),
    (thinking_request({"type": "enabled", "budget_tokens": 16384}), "high"),
    (thinking_request({"type": "enabled"}), "medium"),
    (thinking_request({"type": "adaptive"}), "medium"),
    (thinking_request({"type": "adaptive"}, {"effort": "low"}), "low"),
    (thinking_request({"type": "adaptive"}, {"effort": "max"}), "high"),
    (thinking_request({"type": "disabled"}, {"effort": "high"}), None),
    (thinking_request(None), None),
]

# tool-call arguments for the stream-splitting properties
json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
json_objects = st.dictionaries(
    st.text(max_size=6),
    st.recursive(
        json_scalars,
        lambda i: st.lists(i, max_size=3) | st.dictionaries(st.text(max_size=4), i, max_size=3),
        max_leaves=8,
    ),
    max_size=5,
)
