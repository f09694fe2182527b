"""Inputs the dialect tests share: a tool-loop history and hypothesis strategies for any
request body a client might send."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

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
